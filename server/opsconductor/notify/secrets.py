"""Secret references (``env:NAME`` / ``file:PATH``) and redaction.

Receiver URLs and tokens are secrets: the config keeps the reference, resolves it
when a request is built, and nothing else ever prints the value.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from opsconductor.secrets import SecretUnavailable, resolve_text

__all__ = ["REDACTED", "SecretRef", "SecretUnavailable", "redact"]

REDACTED = "***"


@dataclass(frozen=True, slots=True)
class SecretRef:
    """A secret value: ``env:NAME``, ``file:PATH`` or (discouraged) a literal."""

    ref: str

    @property
    def kind(self) -> str:
        if self.ref.startswith("env:"):
            return "env"
        if self.ref.startswith("file:"):
            return "file"
        return "literal"

    def describe(self) -> str:
        """What the API and logs may show: the reference, or *** for literals."""
        return self.ref if self.kind != "literal" else REDACTED

    def resolve(self) -> str:
        # The one resolver (opsconductor.secrets); notify config may also write a value inline.
        return resolve_text(self.ref, allow_literal=True)

    def __repr__(self) -> str:
        return f"SecretRef({self.describe()!r})"

    __str__ = describe


def _parts(secret: str) -> list[str]:
    """A secret and, for URLs, the pieces a server may echo back (path, query, long path segments)."""
    out = [secret]
    if secret.startswith(("http://", "https://")):
        u = urlsplit(secret)
        out += [u.path, u.query, *(seg for seg in u.path.split("/") if len(seg) >= 8)]
        if u.username or u.password:
            out += [x for x in (u.username, u.password) if x]
    return [p for p in out if p and len(p) >= 4 and p != "/"]


def redact(text: str, secrets: list[str]) -> str:
    """``text`` with every secret value (and URL userinfo/query) replaced by ***."""
    expanded = [p for s in secrets for p in _parts(s)]
    for s in sorted(expanded, key=len, reverse=True):
        text = text.replace(s, REDACTED)
    return re.sub(r"(https?://)[^/\s@]+@", r"\1" + REDACTED + "@", text)
