"""Credential references: resolved at use; the secret never shows in repr, errors or logs."""

from __future__ import annotations

from pathlib import Path

import pytest

from opsconductor.sources.credentials import CredentialError, Secret, check_reference, resolve


def test_env_and_file_references(tmp_path: Path) -> None:
    assert resolve("env:X", {"X": "community-1"}).value() == "community-1"
    f = tmp_path / "v3.json"
    f.write_text('{"user": "opsc", "auth_key": "a-secret", "priv_key": "p-secret"}')
    s = resolve(f"file:{f}")
    assert s.part("user") == "opsc" and s.part("priv_key") == "p-secret"
    assert "a-secret" not in repr(s) and "a-secret" not in str(s)


def test_errors_name_the_reference_never_the_value(tmp_path: Path) -> None:
    with pytest.raises(CredentialError, match="environment variable NOPE is not set"):
        resolve("env:NOPE", {})
    with pytest.raises(CredentialError, match="cannot read"):
        resolve(f"file:{tmp_path / 'missing'}")
    with pytest.raises(CredentialError) as info:
        resolve("hunter2-the-actual-password")
    assert "hunter2" not in str(info.value)
    bad = tmp_path / "bad.json"
    bad.write_text('{"password": "s3cr3t",')
    with pytest.raises(CredentialError) as info2:
        resolve(f"file:{bad}")
    assert "s3cr3t" not in str(info2.value)


def test_reference_syntax() -> None:
    assert check_reference("env:SNMP_COMMUNITY") is None
    assert check_reference("file:/etc/opsconductor/x.json") is None
    assert check_reference("public") is not None
    assert check_reference("file:relative/path") is None  # inside the credentials directory
    assert check_reference("file:") is not None
    assert Secret("env:A", "x") == Secret("env:A", "x")


def test_file_references_resolve_only_inside_the_credentials_directory(tmp_path: Path) -> None:
    creds = tmp_path / "credentials"
    creds.mkdir()
    (creds / "rtr1.json").write_text('{"community": "c1"}')
    (tmp_path / "outside.txt").write_text("server-private-key")
    (creds / "link").symlink_to(tmp_path / "outside.txt")
    assert resolve("file:rtr1.json", credentials_dir=creds).value() == "c1"
    assert resolve(f"file:{creds / 'rtr1.json'}", credentials_dir=creds).value() == "c1"
    for ref in (f"file:{tmp_path / 'outside.txt'}", "file:../outside.txt", "file:link", "file:/etc/passwd"):
        with pytest.raises(CredentialError, match="outside the credentials directory") as info:
            resolve(ref, credentials_dir=creds)
        assert "server-private-key" not in str(info.value)


def test_one_resolver_rules_for_sources_and_notify(monkeypatch: pytest.MonkeyPatch) -> None:
    """An empty variable is an error for both (sources used to get ''); a literal only where allowed."""
    from opsconductor.notify.secrets import SecretRef, SecretUnavailable

    monkeypatch.setenv("EMPTY_SECRET", "")
    with pytest.raises(CredentialError, match="EMPTY_SECRET is empty"):
        resolve("env:EMPTY_SECRET")
    with pytest.raises(SecretUnavailable, match="EMPTY_SECRET is empty"):
        SecretRef("env:EMPTY_SECRET").resolve()
    with pytest.raises(CredentialError) as info:
        resolve("literal-token-123")
    assert "literal-token-123" not in str(info.value)
    assert SecretRef("literal-token-123").resolve() == "literal-token-123"  # notify: inline, shown as ***
    assert issubclass(CredentialError, Exception) and not issubclass(SecretUnavailable, CredentialError)
