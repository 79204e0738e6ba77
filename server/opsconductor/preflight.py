"""Start-up refusal: the configuration files are checked before the server serves anything.

Like Prometheus and Alertmanager, a server whose rules, addons, inventory or notify file is
invalid does not start (``opsconductor serve`` exits 2, one line per error,
``file:line:col: message``); neither does one whose rules folder is missing. A running
server keeps its last good configuration instead (hot reload refuses, and says so).
"""

from __future__ import annotations

import asyncio

from opsconductor.config.settings import Settings
from opsconductor.errors import ConfigError, ConfigErrors, Location


def _flat(errors: list[ConfigError]) -> list[str]:
    out: list[str] = []
    for e in errors:
        out += [_flat([x])[0] for x in e.errors] if isinstance(e, ConfigErrors) else [str(e).replace("\n", " ")]
    return out


def config_errors(settings: Settings) -> list[str]:
    """Every configuration error that must stop start-up, one line each, in file order per kind."""
    from opsconductor.correlate.service import check_and_test
    from opsconductor.notify.config import check_file
    from opsconductor.sources.inventory import load_inventory
    from opsconductor.sources.kinds import default_registry
    from opsconductor.sources.manifest import load_addons

    errors: list[ConfigError] = []
    rules_dir = settings.rules_dir
    if not rules_dir.is_dir():
        errors.append(ConfigError("rules directory not found (set OPSCONDUCTOR_RULES_DIR; an empty folder means "
                                  "no rules)", Location(str(rules_dir))))
    else:
        _, rule_errors, failures = asyncio.run(check_and_test([rules_dir],
                                                              run_tests=settings.rules_test_on_reload))
        errors += rule_errors
        errors += [ConfigError(f"rule test failed: {f}".replace("\n", " ")) for f in failures]
    notify = settings.effective_notify_file
    if notify.exists():
        errors += check_file(notify)
    elif settings.notify_file is not None:
        errors.append(ConfigError("notify file not found (OPSCONDUCTOR_NOTIFY_FILE)", Location(str(notify))))
    errors += load_addons(settings.addons_dir, default_registry()).errors
    try:
        load_inventory(settings.inventory_file)
    except ConfigError as exc:
        errors.append(exc)
    return list(dict.fromkeys(_flat(errors)))  # the rules loader also checks a notify.yaml in rules_dir
