"""Secret references (``env:NAME`` / ``file:PATH``) and redaction.

Receiver URLs and tokens are secrets: the config keeps the reference, resolves it
when a request is built, and nothing else ever prints the value.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, quote_plus, urlsplit

from opsconductor.secrets import SecretUnavailable, resolve_text

__all__ = ["REDACTED", "SecretRef", "SecretUnavailable", "redact"]

REDACTED = "***"


@dataclass(frozen=True, slots=True)
class SecretRef:
    """A secret value: ``env:NAME``, ``file:PATH`` or (discouraged) a literal."""

    ref: str
    credentials_dir: Path | None = field(default=None, compare=False)  # where ``file:`` may read (bound at use)

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
        return resolve_text(self.ref, allow_literal=True, credentials_dir=self.credentials_dir)

    def bound(self, credentials_dir: Path | None) -> SecretRef:
        """The same reference, reading ``file:`` only inside ``credentials_dir``."""
        return SecretRef(self.ref, credentials_dir)

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


def _b64(value: str) -> list[str]:
    """Base64 forms of ``value`` as an echo shows them (padded and not), for each of the 3 alignments.

    A secret inside a larger base64 blob (``Basic b64(user:token)``) is encoded differently depending
    on its offset; the stable middle of each alignment is what gives it away.
    """
    raw = value.encode()
    out = [base64.b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode()]
    for shift in range(3):
        enc = base64.b64encode(b"\0" * shift + raw).decode()
        start = (shift * 4 + 2) // 3 + 1  # skip the characters touched by the padding bytes
        end = len(enc) - 4  # and the last quantum, which depends on what follows
        if end - start >= 8:
            out.append(enc[start:end])
    return [o.rstrip("=") or o for o in out]


def forms(secrets: list[str]) -> tuple[list[str], list[str]]:
    """(literal forms, base64 forms) of each secret a server may echo.

    Literal: the value, its URL pieces, URL-encoded and JSON-escaped. Base64: see :func:`_b64`.
    """
    lit: set[str] = set()
    b64: set[str] = set()
    for s in secrets:
        for p in _parts(s):
            lit.update({p, quote(p, safe=""), quote_plus(p), quote(p), p.replace("/", "\\/")})
            if len(p) >= 6:
                b64.update(_b64(p))
    def order(x: set[str]) -> list[str]:
        return sorted((o for o in x if len(o) >= 4), key=len, reverse=True)
    return order(lit), order(b64)


# Authorization-like echoes: scheme + credential, whatever the credential is.
_AUTH = re.compile(r"(?i)\b(basic|bearer|geniekey|token(?: token=)?|apikey|digest)(\s+|=)[A-Za-z0-9+/=._~:-]{6,}")
_USERINFO = re.compile(r"(https?://)[^/\s@]+@")
_B64CHARS = "[A-Za-z0-9+/_-]*"


def redact(text: str, secrets: list[str]) -> str:
    """``text`` with every form of every secret, any Authorization echo and URL userinfo replaced by ***.

    A base64 form hides the whole base64 word around it, so no stray characters of the secret remain.
    """
    text = _AUTH.sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}", text)
    lit, b64 = forms(secrets)
    for s in lit:
        text = text.replace(s, REDACTED)
    if b64:
        pattern = re.compile(_B64CHARS + "(?:" + "|".join(re.escape(b) for b in b64) + ")" + _B64CHARS + "=*")
        text = pattern.sub(REDACTED, text)
    return _USERINFO.sub(r"\1" + REDACTED + "@", text)
