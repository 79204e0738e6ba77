"""Pure parts of convergence and sync: webhook verification, the circuit, secret scrubbing."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from urllib.parse import quote, urlencode

import pytest

from opsconductor.errors import AuthError, InputError
from opsconductor.notify.circuit import THRESHOLD, Circuit
from opsconductor.notify.inbound import parse, split_ref
from opsconductor.notify.receivers.base import Result
from opsconductor.notify.secrets import redact


def test_slack_refuses_a_stale_timestamp_even_with_a_good_signature() -> None:
    body = urlencode({"payload": json.dumps({"actions": [{"action_id": "oc_ack", "value": "opsconductor-ab-1"}]})})
    ts = "1000"
    sig = "v0=" + hmac.new(b"s", f"v0:{ts}:{body}".encode(), hashlib.sha256).hexdigest()
    headers = {"x-slack-request-timestamp": ts, "x-slack-signature": sig}
    with pytest.raises(AuthError, match="stale"):
        parse("slack", headers, body.encode(), "s", now=1000 + 301)
    assert parse("slack", headers, body.encode(), "s", now=1000 + 299).action == "ack"


def test_signed_but_malformed_bodies_are_400_and_unknown_kinds_refused() -> None:
    body = b"not json"
    sig = "sha256=" + hmac.new(b"k", body, hashlib.sha256).hexdigest()
    with pytest.raises(InputError):
        parse("jira", {"x-hub-signature": sig}, body, "k", now=0)
    with pytest.raises(InputError):
        parse("webhook", {}, b"{}", "k", now=0)
    with pytest.raises(AuthError):
        parse("opsgenie", {"authorization": "Bearer k2"}, b"{}", "k", now=0)


def test_a_jira_update_without_a_status_change_does_nothing() -> None:
    body = json.dumps({"webhookEvent": "jira:issue_updated", "issue": {"fields": {
        "labels": ["opsconductor-abc-7"], "status": {"statusCategory": {"key": "done"}}}},
        "changelog": {"items": [{"field": "summary"}]}}).encode()
    got = parse("jira", {"x-hub-signature": "sha256=" + hmac.new(b"k", body, hashlib.sha256).hexdigest()},
                body, "k", now=0)
    assert (got.ref, got.action) == ("opsconductor-abc-7", None)
    assert split_ref(got.ref) == ("abc", 7) and split_ref("other-7") is None


def test_circuit_opens_after_outages_and_closes_on_any_answer() -> None:
    c = Circuit(probe_s=3.0)
    down = Result(False, unreachable=True)
    for _ in range(THRESHOLD - 1):
        assert not c.record(down, 0.0)
    assert not c.open
    c.record(Result(False, status_code=503), 10.0)
    assert c.open and not c.may_probe(12.0) and c.may_probe(13.0)
    assert c.record(Result(False, retry=True, status_code=429), 14.0)  # busy, but answering: closes
    c2 = Circuit()
    for _ in range(THRESHOLD):
        c2.record(down, 0.0)
    assert c2.record(Result(False, retry=False, status_code=400), 1.0)  # a 4xx is an answer: it is up
    assert not c2.open


def test_redaction_covers_encoded_forms_and_authorization_echoes() -> None:
    token = "s3cr3t-Token_value"
    pair = base64.b64encode(f"someone:{token}".encode()).decode()
    text = (f"a {token} b {quote(token)} c {base64.b64encode(token.encode()).decode()} d Basic {pair} "
            f"e blob{pair}end f Authorization: Bearer xyzxyzxyz g GenieKey abcdefgh")
    out = redact(text, [token])
    for leak in (token, "s3cr3t", pair, "xyzxyzxyz", "abcdefgh"):
        assert leak not in out
    assert out.startswith("a *** b *** c *** d Basic ***")
