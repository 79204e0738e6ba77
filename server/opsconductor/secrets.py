"""The one secret resolver: ``env:NAME`` and ``file:NAME`` references, read at use, never stored.

Sources (target credentials, trap communities and users) and notify (receiver URLs, tokens)
resolve through :func:`resolve_text` with the same rules:

- ``env:NAME``: the server's environment variable; unset *or empty* is an error (an empty
  community or token is never what was meant).
- ``file:NAME``: a file inside the credentials directory (setting ``credentials_dir``, default
  ``<data_dir>/credentials``): a relative NAME is taken from there, an absolute path must lie
  inside it once symlinks are resolved, so a reference cannot read ``/etc/shadow`` or the
  server's own key file. Callers without a directory (offline tools) read the path as given.
- anything else is a literal, refused unless the caller allows it (notify headers and URLs
  may be written inline; discouraged); the error never echoes it: it may be a pasted secret.

Errors name the reference, never the content. Surrounding whitespace is stripped.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

from opsconductor.errors import OpsConductorError

REFERENCE = re.compile(r"^(env:[A-Za-z_][A-Za-z0-9_]*|file:\S.*)$")


class SecretUnavailable(OpsConductorError):
    """A reference does not resolve (message names the reference, never a value)."""


def check_reference(ref: str) -> str | None:
    """None if ``ref`` is a reference, else why not (never quoting it)."""
    if REFERENCE.match(ref):
        return None
    return "must be a reference 'env:NAME' or 'file:NAME', not the secret itself"


def resolve_text(ref: str, *, environ: Mapping[str, str] | None = None, credentials_dir: Path | None = None,
                 allow_literal: bool = False) -> str:
    """The secret text ``ref`` points to, read now."""
    if ref.startswith("env:"):
        name = ref[4:]
        value = (os.environ if environ is None else environ).get(name)
        if value is None:
            raise SecretUnavailable(f"environment variable {name} is not set")
        if not value.strip():
            raise SecretUnavailable(f"environment variable {name} is empty")
        return value.strip()
    if ref.startswith("file:"):
        path = _inside(ref[5:], credentials_dir)
        try:
            text = path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise SecretUnavailable(f"secret file {ref[5:]}: cannot read: {exc.strerror}") from None
        except UnicodeDecodeError:
            raise SecretUnavailable(f"secret file {ref[5:]}: not UTF-8 text") from None
        if not text:
            raise SecretUnavailable(f"secret file {ref[5:]} is empty")
        return text
    if allow_literal and ref:
        return ref
    raise SecretUnavailable(f"secret reference {check_reference(ref) or 'is empty'}")


def _inside(name: str, base: Path | None) -> Path:
    if base is None:
        return Path(name)
    root = base.resolve()
    path = (root / name).resolve()  # an absolute name replaces root, then must still be inside it
    if not path.is_relative_to(root):
        raise SecretUnavailable(f"secret file {name} is outside the credentials directory {base}")
    return path
