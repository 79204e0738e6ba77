"""Alertmanager matchers onto our silences: the mapping means the same as Alertmanager (pure, property-tested)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from opsconductor.api.am_config import alertmanager_config
from opsconductor.api.am_matchers import (
    AmMatcher,
    from_silence_matchers,
    parse_filter,
    parse_matcher,
    to_silence_matchers,
)
from opsconductor.api.am_views import am_labels, silence_id_of, silence_uuid
from opsconductor.correlate.matchers import matches
from opsconductor.correlate.parser import parse_matcher as parse_ours
from opsconductor.errors import InputError, NotFound
from opsconductor.model.event import NormalizedEvent
from opsconductor.notify.config import parse_config

NAMES = ["alertname", "resource", "site", "role"]
VALUES = ["", "a", "ab", "b"]
REGEXES = ["a.*", ".*", "b|", "a", "x+"]


def _event(labels: dict[str, str]) -> NormalizedEvent:
    return NormalizedEvent(resource=labels.get("resource") or "r0", event=labels.get("alertname") or "e0",
                           labels={k: v for k, v in labels.items() if k not in ("alertname", "resource")})


def _row(ev: NormalizedEvent) -> dict[str, Any]:
    return {"event": ev.event, "resource": ev.resource, "labels": ev.labels, "component": None, "severity": None,
            "source": None}


matcher_st = st.builds(
    lambda name, regex, equal, v, r: AmMatcher(name, r if regex else v, is_regex=regex, is_equal=equal),
    st.sampled_from(NAMES), st.booleans(), st.booleans(), st.sampled_from(VALUES), st.sampled_from(REGEXES))
labels_st = st.fixed_dictionaries({}, optional={"alertname": st.sampled_from(["a", "b", "e0"]),
                                                "resource": st.sampled_from(["a", "r0"]),
                                                "site": st.sampled_from(VALUES), "role": st.sampled_from(VALUES)})


@pytest.mark.fuzz
@settings(max_examples=400, deadline=None)
@given(st.lists(matcher_st, min_size=1, max_size=3), labels_st)
def test_silence_mapping_matches_exactly_what_alertmanager_would(ms: list[AmMatcher], labels: dict[str, str]) -> None:
    try:
        ours = to_silence_matchers(ms)
    except InputError:
        return  # combinations we refuse (two '=' on one label) are refused, never mistranslated
    matcher, errors = parse_ours(ours, "silence")
    assert not errors, errors
    ev = _event(labels)
    am_view = am_labels(_row(ev))
    assert matches(matcher, ev) == all(m.matches(am_view) for m in ms)


def test_absent_label_is_empty_as_in_alertmanager() -> None:
    ev = _event({"alertname": "x"})
    for text, expected in (('site=""', True), ('site=~".*"', True), ('site!=""', False), ('site!~"a.*"', True),
                           ('site=~"a.*"', False)):
        (m,) = parse_filter([text])
        ours, _ = parse_ours(to_silence_matchers([m]), "s")
        assert matches(ours, ev) is expected, text


def test_parse_matchers_as_amtool_sends_them() -> None:
    assert parse_matcher('alertname="link_down"') == AmMatcher("alertname", "link_down")
    assert parse_matcher("site=~ams.*") == AmMatcher("site", "ams.*", is_regex=True)
    assert parse_matcher('x!="a \\"q\\""') == AmMatcher("x", 'a "q"', is_equal=False)
    assert parse_filter(['{a="1", b!~"x,y"}']) == [AmMatcher("a", "1"), AmMatcher("b", "x,y", True, False)]
    for bad in ("noop", "=x", 'a=~"("', 'a=~"(a+)+"', "a=~" + "x" * 600):
        with pytest.raises(InputError):
            parse_matcher(bad)


def test_our_matchers_shown_in_alertmanager_terms() -> None:
    ms, notes = from_silence_matchers({"event": "link_down", "labels.site": {"regex": "ams.*", "not": "ams9"},
                                       "resource": {"exists": True}, "value": {"ge": 3}})
    assert [str(m) for m in ms] == ['alertname="link_down"', 'site=~"ams.*"', 'site!="ams9"', 'resource=~".+"']
    assert notes == ["value ge 3"]
    # what the Alertmanager API creates comes back unchanged
    am = [AmMatcher("alertname", "x"), AmMatcher("site", "a.*", True, True), AmMatcher("role", "db", False, False)]
    assert from_silence_matchers(to_silence_matchers(am)) == (am, [])


def test_silence_ids_are_uuids_that_read_as_our_ids() -> None:
    assert silence_uuid(42) == "00000000-0000-0000-0000-000000000042"
    assert silence_id_of(silence_uuid(42)) == 42 and silence_id_of("42") == 42
    with pytest.raises(NotFound):
        silence_id_of("3f2a9c1e-0000-0000-0000-000000000042")


def test_routes_become_an_alertmanager_config() -> None:
    cfg = parse_config("""
receivers:
  noc: {kind: webhook, url: "http://x"}
  db: {kind: webhook, url: "http://y"}
route:
  receiver: noc
  group_by: [resource, labels.site]
  repeat_interval: 0s
  routes:
    - match: {event: [disk_full, db_down], value: {gt: 3}}
      receiver: db
      continue: true
""")
    text = alertmanager_config(cfg, "rules/notify.yaml")
    assert "- alertname=~\"disk_full|db_down\"" in text and "continue: true" in text
    assert "- site" in text and "repeat_interval" not in text  # 0 = never repeat: Alertmanager has no such value
    assert "# route root.0: match value gt 3 (not expressible as a matcher)" in text
    assert "url" not in text  # receivers by name only: no URL, no secret
