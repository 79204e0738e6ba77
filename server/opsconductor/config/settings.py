"""The one typed settings object.

Sources, highest priority first: ``OPSCONDUCTOR_*`` environment variables, then the
YAML file named by ``OPSCONDUCTOR_CONFIG`` (if any), then the defaults below. There
is no other configuration source.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from opsconductor.config.yaml_source import load_yaml
from opsconductor.errors import ConfigError


class _YamlFileSource(PydanticBaseSettingsSource):
    """Values from the YAML file named by OPSCONDUCTOR_CONFIG (keys without the prefix)."""

    def __init__(self, settings_cls: type[BaseSettings]):
        super().__init__(settings_cls)
        path = os.environ.get("OPSCONDUCTOR_CONFIG")
        self._data: dict[str, Any] = {}
        if path:
            doc = load_yaml(Path(path))
            if not isinstance(doc.data, dict):
                raise ConfigError("settings file must be a mapping", doc.positions.at(()))
            unknown = sorted(set(doc.data) - set(settings_cls.model_fields))
            if unknown:
                raise doc.positions.error((unknown[0],), f"unknown setting {unknown[0]!r}")
            self._data = doc.data

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return self._data.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(self._data)


DATABASE_SCHEMES = ("sqlite+aiosqlite://", "postgresql+asyncpg://")
DATABASE_FORM = "postgresql+asyncpg://USER:PASSWORD@HOST:5432/DB or sqlite+aiosqlite:///PATH"


class Settings(BaseSettings):
    """Everything the server can be told; see docs/configuration.md for each setting."""

    model_config = SettingsConfigDict(env_prefix="OPSCONDUCTOR_", extra="forbid", frozen=True)

    data_dir: Path = Field(default=Path("data"), description="Where the embedded SQLite database lives")
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy async URL; default sqlite+aiosqlite:///<data_dir>/opsconductor.db",
    )
    rules_dir: Path = Field(default=Path("rules"), description="YAML rule files (and notify.yaml)")
    rules_reevaluate_interval_s: float = Field(
        default=15.0, gt=0,
        description="Backstop: suppressions are re-decided at least this often (their causes already act at once)",
    )
    rules_watch: bool = Field(default=True, description="Reload rules when files under rules_dir change")
    rules_settle_s: float = Field(
        default=1.0, ge=0, description="A file change reloads the rules once files have not changed for this long"
    )
    heartbeat_check_interval_s: float = Field(
        default=5.0, gt=0, description="How often heartbeats are checked for a missed deadline"
    )
    rules_engine_worker: bool = Field(
        default=True, description="Run the rules engine in a supervised worker process (a crash cannot kill the API)"
    )
    rules_test_on_reload: bool = Field(default=True, description="A reload goes live only if the rule tests pass")
    addons_dir: Path = Field(default=Path("addons"), description="Addon manifests: <dir>/<name>/addon.yaml")
    inventory_file: Path | None = Field(default=None, description="YAML inventory of targets to poll")
    host: str = Field(default="127.0.0.1", description="Address the HTTP server binds")
    port: int = Field(default=8080, ge=1, le=65535, description="HTTP port")
    workers: int = Field(
        default=1,
        description="Server processes (uvicorn workers) sharing the port and the database; on SQLite they "
                    "parse and validate in parallel and take turns writing (docs/operations.md)",
    )
    log_level: Literal["debug", "info", "warning", "error"] = Field(default="info",
                                                                   description="debug, info, warning or error")
    admin_key: SecretStr | None = Field(
        default=None, description="Preset the first admin API key (otherwise generated into data_dir)"
    )
    max_body_bytes: int = Field(default=16 * 1024 * 1024, description="Largest request body (413 above)")
    max_events_per_request: int = Field(default=10_000, description="Most events in one POST /api/v1/events")
    alert_timeout_s: int = Field(default=86_400, ge=0, description="Default seconds unseen before expired")
    housekeeping_interval_s: float = Field(default=30.0, description="How often alerts are checked for expiry")
    process_batch_size: int = Field(default=1_000, description="Events processed per transaction")
    process_linger_ms: float = Field(
        default=10.0, ge=0, le=1_000,
        description="After a batch of fewer than 50 events the processor waits this long for more before the "
                    "next (many small batches cost far more than one larger one); adds at most this to "
                    "accept->visible latency",
    )
    wait_timeout_s: float = Field(default=30.0, description="Longest ?wait=true waits for processing")
    max_future_skew_s: float = Field(
        default=86_400.0, ge=0,
        description="occurred_at further ahead than this (or before 1970): 422 at /api/v1/events, the receive "
                    "time elsewhere (original kept in the label occurred_at_original)",
    )
    public_url: str = Field(default="http://127.0.0.1:8080", description="Base URL for links in notifications")
    # sources stage (poller); see docs/addons.md
    poller_enabled: bool = Field(default=True, description="Run the poller (the leader process only)")
    poller_refresh_s: float = Field(default=10.0, gt=0, description="Re-read addons, inventory and targets")
    poller_leader_retry_s: float = Field(default=1.0, gt=0, description="Leader election retry/keep-alive")
    poller_max_backoff_s: float = Field(default=300.0, ge=0, description="Longest wait after failed polls")
    snmp_concurrency: int = Field(default=256, ge=1, description="SNMP requests in flight (failing targets: a quarter)")
    ssh_sessions_per_device: int = Field(default=2, ge=1, description="Concurrent SSH sessions per device")
    ssh_known_hosts: Path | None = Field(default=None, description="known_hosts file; unset: no host key check")
    credentials_dir: Path | None = Field(
        default=None, description="file: secret references resolve only inside it; default <data_dir>/credentials")
    http_concurrency: int = Field(default=100, ge=1, description="HTTP polls in flight")
    notify_file: Path | None = Field(
        default=None, description="Notification routes and receivers; unset: notify.yaml in rules_dir"
    )
    notify_retry_base_s: float = Field(default=1.0, gt=0, description="First retry delay; doubles each attempt")
    notify_retry_max_s: float = Field(default=300.0, gt=0, description="Longest delay between delivery attempts")
    notify_poll_s: float = Field(default=0.05, gt=0, description="Delivery worker poll interval when idle")
    notify_retention_days: float = Field(default=30.0, gt=0, description="Keep sent/dead notifications this long")
    notify_shutdown_grace_s: float = Field(default=10.0, ge=0, description="On shutdown, wait this long for "
                                           "deliveries in flight to finish")
    notify_probe_s: float = Field(default=3.0, gt=0, description="How often a receiver that is down is probed")
    # pushed sources: the SNMP trap receiver; see docs/integrations.md
    trap_enabled: bool = Field(default=True, description="Run the trap receiver when an addon has snmp_trap sources")
    trap_host: str = Field(default="127.0.0.1", description="Trap receiver bind address (0.0.0.0 or :: for all)")
    trap_port: int = Field(default=1162, ge=0, le=65535,
                           description="Trap receiver UDP port (162 needs CAP_NET_BIND_SERVICE; 0: any free port)")
    trap_communities: list[str] = Field(
        default_factory=list, description="Accepted v1/v2c communities, as credential references (env:NAME, file:/path)"
    )
    trap_v3_users: list[str] = Field(
        default_factory=list,
        description="SNMPv3 users, as credential references to JSON {user, auth_protocol, auth_key, priv_protocol, "
                    "priv_key, engine_ids}",
    )
    trap_engine_id: str | None = Field(default=None, description="The receiver's SNMPv3 engine ID (hex)")
    # never silent, never stalled; see docs/operations.md
    selfmon_interval_s: float = Field(default=5.0, gt=0, description="How often the self-monitor looks")
    selfmon_stall_s: float = Field(
        default=60.0, gt=0, description="Processing is stalled (self-alert, /readyz 503) when an event waits longer"
    )
    selfmon_receiver_failing_s: float = Field(
        default=300.0, gt=0, description="A receiver retrying deliveries this long raises a self-alert"
    )
    selfmon_db_alert_hold_s: float = Field(
        default=300.0, ge=0, description="The database-outage self-alert resolves this long after the outage ended"
    )
    db_timeout_s: float = Field(
        default=2.0, gt=0, description="Intake and probes give up on a database that does not answer (503)"
    )
    db_statement_timeout_s: float = Field(
        default=30.0, gt=0,
        description="Longest any one database statement may run (SQLite: also the longest a write waits for "
                    "another process's, then 503)")
    readyz_timeout_s: float = Field(default=1.0, gt=0, description="/readyz answers 503 if its checks take longer")
    idempotency_ttl_s: float = Field(default=86_400.0, gt=0, description="How long Idempotency-Key answers are kept")
    trap_batch_ms: float = Field(default=20.0, gt=0, description="Traps are collected this long, then stored together")

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, v: str | None) -> str | None:
        if v is not None and not v.startswith(DATABASE_SCHEMES):
            scheme = v.split(":", 1)[0] if ":" in v else "none"
            raise ValueError(f"scheme {scheme!r} is not supported")
        return v

    @field_validator("workers")
    @classmethod
    def _workers(cls, v: int) -> int:
        if v < 1:
            raise ValueError("must be at least 1")
        return v

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _YamlFileSource(settings_cls))

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'opsconductor.db').resolve()}"

    @property
    def effective_credentials_dir(self) -> Path:
        return self.credentials_dir if self.credentials_dir is not None else self.data_dir / "credentials"

    @property
    def effective_notify_file(self) -> Path:
        return self.notify_file if self.notify_file is not None else self.rules_dir / "notify.yaml"

    @property
    def is_sqlite(self) -> bool:
        return self.effective_database_url.startswith("sqlite")
