"""The notify stage's state in a running server: the config, its senders, and the wake-up signal."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from dataclasses import dataclass, field
from pathlib import Path

from opsconductor.errors import ConfigError, Location
from opsconductor.notify.config import NotifyConfig, ReceiverConfig, load_config
from opsconductor.notify.metrics import NotifyMetrics
from opsconductor.notify.receivers.base import Sender
from opsconductor.notify.secrets import SecretUnavailable

log = logging.getLogger(__name__)


def build_sender(cfg: ReceiverConfig) -> Sender:
    """The sender for a receiver's kind."""
    from opsconductor.notify.receivers import (
        jira,
        mattermost,
        opsgenie,
        pagerduty,
        servicenow,
        slack,
        teams,
        webhook,
    )

    kinds: dict[str, type] = {
        "webhook": webhook.WebhookSender, "slack": slack.SlackSender, "teams": teams.TeamsSender,
        "mattermost": mattermost.MattermostSender, "pagerduty": pagerduty.PagerDutySender,
        "opsgenie": opsgenie.OpsgenieSender, "jira": jira.JiraSender, "servicenow": servicenow.ServiceNowSender,
    }
    sender: Sender = kinds[cfg.kind](cfg)
    return sender


def missing_secret(cfg: ReceiverConfig) -> str | None:
    """Why the receiver cannot work right now (a secret it needs is unset), or None."""
    for name, ref in [*cfg.secrets.items(), *(("header " + k, v) for k, v in cfg.headers.items())]:
        try:
            ref.resolve()
        except SecretUnavailable as exc:
            return f"{name}: {exc}"
    return None


def bind_secrets(config: NotifyConfig, credentials_dir: Path | None) -> NotifyConfig:
    """The config with every secret reference reading ``file:`` only inside ``credentials_dir``."""
    receivers = {
        name: dataclasses.replace(rc, secrets={k: v.bound(credentials_dir) for k, v in rc.secrets.items()},
                                  headers={k: v.bound(credentials_dir) for k, v in rc.headers.items()})
        for name, rc in config.receivers.items()}
    return dataclasses.replace(config, receivers=receivers)


@dataclass
class NotifyService:
    config: NotifyConfig
    metrics: NotifyMetrics
    public_url: str = "http://127.0.0.1:8080"
    senders: dict[str, Sender] = field(default_factory=dict)
    disabled: dict[str, str] = field(default_factory=dict)
    wake_event: asyncio.Event = field(default_factory=asyncio.Event)
    path: Path | None = None
    credentials_dir: Path | None = None  # ``file:`` secrets resolve only inside it (None: offline tools)
    last_error: str | None = None  # the last reload refused (a self-alert while set); None once one succeeds
    _mtime: float | None = None

    def __post_init__(self) -> None:
        self.apply(self.config)

    def apply(self, config: NotifyConfig) -> None:
        """Use a new config; receivers whose secrets are unset are disabled (and say why)."""
        senders: dict[str, Sender] = {}
        disabled: dict[str, str] = {}
        config = bind_secrets(config, self.credentials_dir)
        for name, rc in config.receivers.items():
            reason = missing_secret(rc)
            if reason:
                disabled[name] = reason
                log.warning("notify receiver %s disabled: %s", name, reason)
                continue
            senders[name] = build_sender(rc)
        self.config, self.senders, self.disabled = config, senders, disabled

    def reload(self) -> NotifyConfig:
        """Re-read the notify file; a broken file raises ConfigError and the running config stays."""
        if self.path is None:
            return self.config
        mtime = _mtime(self.path)
        try:
            config = load_config(self.path)
            if self.config.receivers and not config.receivers and _truncated(self.path):
                raise ConfigError(f"file is empty or truncated: it would remove all {len(self.config.receivers)} "
                                  "receivers; refused (write `receivers: {}` to remove them on purpose)",
                                  Location(str(self.path), 1, 1))
        except ConfigError as exc:
            self.last_error = str(exc).replace("\n", "; ")
            raise
        self.apply(config)
        self._mtime = mtime
        self.last_error = None
        log.info("notify config reloaded from %s: %d receivers", self.path, len(config.receivers))
        return config

    def reload_if_changed(self) -> None:
        """Called periodically by the worker: pick up edits of the notify file."""
        if self.path is None:
            return
        mtime = _mtime(self.path)
        if self._mtime is None:
            self._mtime = mtime
            return
        if mtime == self._mtime:
            return
        self._mtime = mtime  # a broken file is reported once per edit, not on every check
        try:
            self.reload()
        except ConfigError as exc:
            log.error("notify config not reloaded, the running one stays in force:\n%s", exc)

    def enabled(self, receiver: str) -> bool:
        return receiver in self.senders

    def wake(self) -> None:
        self.wake_event.set()

    def links(self, alert_id: int) -> dict[str, str]:
        base = self.public_url.rstrip("/")
        return {"alert": f"{base}/api/v1/alerts/{alert_id}",
                "notifications": f"{base}/api/v1/notifications?alert_id={alert_id}"}


def _truncated(path: Path) -> bool:
    """An existing file without a ``receivers:`` key: caught mid-rewrite rather than meant (a
    deleted file is meant: no notifications)."""
    from opsconductor.config.yaml_source import load_yaml

    if not path.exists():
        return False
    try:
        data = load_yaml(path).data
    except (OSError, ConfigError):
        return True
    return not (isinstance(data, dict) and "receivers" in data)


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime_ns / 1e9
    except OSError:
        return 0.0
