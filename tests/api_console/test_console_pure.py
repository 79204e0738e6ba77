"""Pure parts of the console: session cookies, list options, grouping, ages, shelve text, the change feed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from opsconductor.api.console.feed import ChangeFeed
from opsconductor.api.console.session import SESSION_S, csrf_token, make_cookie, parse_cookie, verify
from opsconductor.api.console.views import age, grouped, list_options, severity_counts
from opsconductor.shelving import shelve_text, shelved_until

HASH = "a" * 64


def test_a_cookie_verifies_only_for_its_key_and_until_it_expires() -> None:
    value, expires = make_cookie(7, HASH, 1000.0)
    assert expires == 1000 + SESSION_S
    assert verify(value, HASH, 1001.0) == (7, expires)
    assert verify(value, "b" * 64, 1001.0) is None  # another key (or the key re-created) does not match
    assert verify(value, HASH, expires) is None  # expired
    tampered = value.replace("v1.7.", "v1.8.")
    assert verify(tampered, HASH, 1001.0) is None
    longer = f"v1.7.{expires + 999}.{value.rsplit('.', 1)[1]}"
    assert verify(longer, HASH, 1001.0) is None  # the expiry is signed too
    for bad in ("", "v1", "v2.7.1.x", "v1.x.1.y", "v1.7.1"):
        assert parse_cookie(bad) is None
    assert csrf_token(HASH, 7, expires) != value.rsplit(".", 1)[1]  # a different MAC from the session's


def test_list_options_keep_good_values_and_report_bad_ones() -> None:
    opts = list_options({"severity": ["critical,bogus"], "status": ["active"], "label": ["site:ams", "oops"],
                         "sort": ["-colour"], "group": ["site"], "q": ["  bgp "]})
    assert (opts.severity, opts.status, opts.labels, opts.sort, opts.group, opts.q) == (
        ("critical",), ("active",), ("site:ams",), "-severity", "site", "bgp")
    assert len(opts.problems) == 3
    assert list_options({}).sort == "-severity" and list_options({}).problems == []


def test_grouping_keeps_the_sort_order_and_reads_labels_or_fields() -> None:
    rows = [{"id": 1, "severity": "critical", "labels": {"site": "fra"}},
            {"id": 2, "severity": "major", "labels": {"site": "ams"}},
            {"id": 3, "severity": "major", "labels": {"site": "fra"}},
            {"id": 4, "severity": "minor", "labels": {}}]
    assert [(k, [r["id"] for r in v]) for k, v in grouped(rows, "site")] == [
        ("fra", [1, 3]), ("ams", [2]), ("(none)", [4])]
    assert [(k, len(v)) for k, v in grouped(rows, "severity")] == [("critical", 1), ("major", 2), ("minor", 1)]
    assert [k for k, _ in grouped(rows, "labels.site")] == ["fra", "ams", "(none)"]
    assert grouped(rows, "") == [("", rows)]


def test_age_is_short_and_human() -> None:
    now = datetime(2026, 1, 2, tzinfo=UTC)
    ages = [age(now - timedelta(seconds=s), now) for s in (5, 125, 3 * 3600 + 5 * 60, 4 * 86400 + 2 * 3600)]
    assert ages == ["5s", "2m", "3h 05m", "4d 2h"]
    assert age(now + timedelta(seconds=3), now) == "0s" and age(None, now) == ""


def test_severity_counts_for_the_wall() -> None:
    counts = {"critical": {"active": 2, "acknowledged": 1}, "clear": {"active": 9}}
    assert severity_counts(counts) == [("critical", 2), ("major", 0), ("minor", 0), ("warning", 0), ("info", 0)]
    assert severity_counts(counts, ("active", "acknowledged"))[0] == ("critical", 3)


def test_shelve_text_round_trips_and_other_acks_are_not_shelves() -> None:
    until = datetime(2026, 3, 1, 12, 30, tzinfo=UTC)
    assert shelved_until(shelve_text(until, "waiting for the carrier: ticket 9")) == until
    assert shelved_until(shelve_text(until, None)) == until
    assert shelve_text(until, None) == "shelved until 2026-03-01T12:30:00Z"
    for text in (None, "", "looking at it", "shelved until never"):
        assert shelved_until(text) is None


async def test_the_feed_moves_its_version_only_on_a_change_and_survives_a_failing_probe() -> None:
    tokens: list[object] = [(1,), (1,), RuntimeError("db away"), (1,), (2,)]

    async def probe() -> tuple[object, ...]:
        t = tokens.pop(0) if len(tokens) > 1 else tokens[0]
        if isinstance(t, Exception):
            raise t
        return t  # type: ignore[return-value]

    feed = ChangeFeed(probe, interval=0.01)
    async with feed.listening():
        assert await feed.wait(0, 2.0) == 1  # (1,) -> (1,) -> error -> (1,) -> (2,): one change
        assert feed.failing is False
        assert await feed.wait(1, 0.1) == 1  # nothing more
    await feed.close()
