"""The correlator's one-call fingerprint is the spine's fingerprint, byte for byte."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from opsconductor.correlate.evaluate import dedup_fingerprint, fast_fingerprint
from opsconductor.model.decision import default_fingerprint, fingerprint
from opsconductor.model.event import NormalizedEvent


@pytest.mark.fuzz
@given(st.lists(st.none() | st.text(), max_size=6))
def test_fast_fingerprint_equals_the_spine_fingerprint(parts: list[str | None]) -> None:
    assert fast_fingerprint(*parts) == fingerprint(*parts)


@pytest.mark.fuzz
@given(st.text(min_size=1, max_size=20).filter(str.strip), st.none() | st.text(max_size=20))
def test_default_identity_is_the_spine_default(resource: str, component: str | None) -> None:
    ev = NormalizedEvent(resource=resource.strip(), event="link_down", component=component)
    assert dedup_fingerprint(None, ev) == default_fingerprint(ev)
