"""One line per bad setting, naming where it came from and the expected form; never the value.

A value may be a secret (a community, a key, a password in a URL), so no line repeats it.
"""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from pydantic_settings import SettingsError

from opsconductor.config.settings import DATABASE_FORM, Settings

PREFIX = "OPSCONDUCTOR_"
_FORMS = {"database_url": DATABASE_FORM}


def expected_form(name: str) -> str:
    """How a setting is written, from its type (and constraints)."""
    if name in _FORMS:
        return _FORMS[name]
    field = Settings.model_fields[name]
    ann = field.annotation
    args = [a for a in typing.get_args(ann) if a is not type(None)]
    if typing.get_origin(ann) in (typing.Union, types.UnionType) and len(args) == 1:
        ann = args[0]
    bounds = {k: getattr(m, k) for m in field.metadata for k in ("ge", "gt", "le", "lt")
              if getattr(m, k, None) is not None}
    span = ""
    if bounds:
        low = f">= {bounds['ge']}" if "ge" in bounds else f"> {bounds['gt']}" if "gt" in bounds else ""
        high = f"<= {bounds['le']}" if "le" in bounds else f"< {bounds['lt']}" if "lt" in bounds else ""
        span = " " + " and ".join(x for x in (low, high) if x)
    if typing.get_origin(ann) is typing.Literal:
        return "one of " + ", ".join(str(a) for a in typing.get_args(ann))
    if ann is bool:
        return "true or false"
    if ann is int:
        return "an integer" + span
    if ann is float:
        return "a number" + span
    if typing.get_origin(ann) is list:
        return 'a JSON list of strings, e.g. ["env:NAME"]'
    if ann is Path:
        return "a path"
    return "text"


def _where(name: str, environ: Mapping[str, str]) -> str:
    var = PREFIX + name.upper()
    if var in environ:
        return var
    if environ.get(PREFIX + "CONFIG"):
        return f"{name} in {environ[PREFIX + 'CONFIG']}"
    return f"{name} (or {var})"


def settings_error_lines(exc: Exception, environ: Mapping[str, str]) -> list[str]:
    """``OPSCONDUCTOR_PORT: Input should be ... (expected an integer >= 1 and <= 65535)``, one per problem."""
    if isinstance(exc, SettingsError):
        m = re.search(r'field "([a-z_0-9]+)"', str(exc))
        if m and m.group(1) in Settings.model_fields:
            name = m.group(1)
            return [f"{_where(name, environ)}: cannot be parsed (expected {expected_form(name)})"]
        return [f"settings: {str(exc).splitlines()[0]}"]
    if isinstance(exc, ValidationError):
        lines = []
        for err in exc.errors(include_url=False, include_input=False):
            name = str(err["loc"][0]) if err["loc"] else ""
            msg = err["msg"].removeprefix("Value error, ")
            if name in Settings.model_fields:
                lines.append(f"{_where(name, environ)}: {msg} (expected {expected_form(name)})")
            elif err["type"] == "extra_forbidden":
                lines.append(f"{_where(name, environ)}: unknown setting")
            else:
                lines.append(f"settings: {msg}")
        return lines
    return [str(exc).splitlines()[0]]


def is_settings_error(exc: Exception) -> bool:
    if isinstance(exc, SettingsError):
        return True
    return isinstance(exc, ValidationError) and exc.title == Settings.__name__


def describe(exc: Any, environ: Mapping[str, str]) -> str:
    return "\n".join(f"opsconductor: {line}" for line in settings_error_lines(exc, environ))
