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
    assert check_reference("file:relative/path") is not None
    assert Secret("env:A", "x") == Secret("env:A", "x")
