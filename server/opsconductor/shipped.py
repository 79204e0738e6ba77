"""Files shipped with OpsConductor: migrations, JSON Schemas, the default rules and the addons.

In a checkout (or an editable install) they are the repository's folders; an installed wheel carries
them as package data under ``opsconductor/_shipped/`` (copied there by ``setup.py``).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from opsconductor.config.settings import Settings

log = logging.getLogger(__name__)

PACKAGE_DATA = Path(__file__).resolve().parent / "_shipped"
CHECKOUT = Path(__file__).resolve().parents[2]


def shipped(name: str) -> Path:
    """Where the shipped ``migrations``, ``schemas``, ``rules`` or ``addons`` folder is."""
    inside = PACKAGE_DATA / name
    return inside if inside.exists() else CHECKOUT / name


def with_shipped_defaults(settings: Settings) -> Settings:
    """Outside a checkout, serve the shipped rules (and their notify.yaml) and addons by default.

    Only for settings nobody set (environment, settings file, arguments) whose default relative path
    does not exist where the server runs; anything set explicitly is left alone, even when missing.
    """
    update: dict[str, Path] = {}
    given = settings.model_fields_set
    if "rules_dir" not in given and not settings.rules_dir.exists():
        update["rules_dir"] = shipped("rules")
        if "notify_file" not in given and not settings.notify_file.exists():
            update["notify_file"] = shipped("rules") / "notify.yaml"
    if "addons_dir" not in given and not settings.addons_dir.exists():
        update["addons_dir"] = shipped("addons")
    for name, path in update.items():
        log.info("%s: no %s here, using the one shipped with OpsConductor: %s", name,
                 getattr(settings, name), path)
    return settings.model_copy(update=update) if update else settings
