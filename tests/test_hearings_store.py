"""The hearing-session store on real databases: the state machine, directions and
receipts, comments, bounds on text, and the audit trail of every change."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from catalog import CatalogSettings
from catalog.recordings import Catalog
from signaling import Users
from signaling.hearing import MAX_DIRECTION, Hearing, HearingError
from signaling.hearings import Hearings

from .console import PASSWORD


@pytest.fixture
def catalog(database_url: str, tmp_path: Path) -> Iterator[Catalog]:
    opened = Catalog.open(CatalogSettings(data_dir=tmp_path / "var", database_url=database_url))
    users = Users(opened.engine)
    for name, role in [("director", "commander"), ("li.pros", "commander"), ("obs", "observer")]:
        users.add(name, role, PASSWORD)
    try:
        yield opened
    finally:
        opened.dispose()


def _create(hearings: Hearings, **overrides: Any) -> Hearing:
    fields: dict[str, Any] = {
        "kind": "direction",
        "station": "county-a-court",
        "county": "A县",
        "streams": ["court-wide", "court-judge"],
        "title": "张某等十四人案庭审",
        "case_no": "晋检刑诉〔2026〕12号",
        "creator": "director",
        "participants": [("li.pros", "prosecutor"), ("obs", "observer")],
    }
    fields.update(overrides)
    return hearings.create(**fields)


def _status(call: Callable[[], object]) -> int:
    with pytest.raises(HearingError) as caught:
        call()
    return caught.value.status


def test_a_session_goes_scheduled_live_ended_and_refuses_anything_else(catalog: Catalog) -> None:
    hearings = Hearings(catalog.engine)
    h = hearings.create(
        kind="direction",
        station="county-a-court",
        county="A县",
        streams=["court-wide"],
        title="庭审",
        case_no="C-1",
        creator="director",
        participants=[("li.pros", "prosecutor")],
    )
    assert h.state == "scheduled" and h.part_of("director") == "director"
    assert h.part_of("li.pros") == "prosecutor" and h.part_of("obs") is None
    assert _status(lambda: hearings.transition(h.id, "ended", "user:director")) == 409
    live = hearings.transition(h.id, "live", "user:director")
    assert live.state == "live" and live.started_at is not None
    assert _status(lambda: hearings.transition(h.id, "live", "user:director")) == 409
    assert hearings.live_for_stream("court-wide") == live
    ended = hearings.transition(h.id, "ended", "user:director")
    assert ended.state == "ended" and hearings.live_for_stream("court-wide") is None
    # Only an interrogation is sealed.
    assert _status(lambda: hearings.transition(h.id, "sealed", "user:director")) == 409
    actions = [r["action"] for r in catalog.audit_trail(f"session:{h.id}")]
    assert actions == ["session.create", "session.start", "session.end"]


def test_directions_need_a_live_session_and_receipts_count_once(catalog: Catalog) -> None:
    hearings = Hearings(catalog.engine)
    h = _create(hearings)
    hid = h.id
    assert _status(lambda: hearings.direct(hid, "请出示证据", False, "director")) == 409
    hearings.transition(hid, "live", "user:director")
    sent = hearings.direct(hid, "请出示证据三", True, "director")
    assert sent.urgent and sent.read_at is None
    read = hearings.mark_read(hid, sent.id, "li.pros")
    again = hearings.mark_read(hid, sent.id, "li.pros")
    assert read.read_by == "li.pros" and read.read_at is not None and again.read_at == read.read_at
    assert _status(lambda: hearings.mark_read(hid, sent.id + 99, "li.pros")) == 404
    hearings.transition(hid, "ended", "user:director")
    assert _status(lambda: hearings.direct(hid, "太晚了", False, "director")) == 409
    full = hearings.get(hid, full=True)
    assert full is not None and [d.text for d in full.directions] == ["请出示证据三"]
    trail = [r["action"] for r in catalog.audit_trail(f"session:{hid}")]
    assert trail.count("direction.send") == 1 and trail.count("direction.read") == 1


def test_comments_carry_media_time_and_text_is_bounded(catalog: Catalog) -> None:
    hearings = Hearings(catalog.engine)
    hid = _create(hearings).id
    hearings.transition(hid, "live", "user:director")
    c = hearings.comment(hid, "<b>公诉人举证清晰</b>", 12.5, "obs")
    assert c.media_time == 12.5 and c.text == "<b>公诉人举证清晰</b>"  # stored as typed
    assert _status(lambda: hearings.comment(hid, "x", -1, "obs")) == 400
    assert _status(lambda: hearings.comment(hid, "x", "12", "obs")) == 400
    assert _status(lambda: hearings.comment(hid, "   ", 1, "obs")) == 400
    assert _status(lambda: hearings.direct(hid, "x" * (MAX_DIRECTION + 1), False, "d")) == 413
    assert _status(lambda: hearings.direct(hid, "a\x00b", False, "director")) == 400
    assert _status(lambda: hearings.direct(hid, "ok", "yes", "director")) == 400
    hearings.transition(hid, "ended", "user:director")
    evaluated = hearings.evaluate(hid, "总体良好", "director")
    assert evaluated.evaluation == "总体良好"


def test_creation_checks_kind_parts_and_participants(catalog: Catalog) -> None:
    hearings = Hearings(catalog.engine)
    assert _status(lambda: _create(hearings, kind="party")) == 400
    assert _status(lambda: _create(hearings, participants=[("nobody", "observer")])) == 400
    assert _status(lambda: _create(hearings, participants=[("obs", "judge")])) == 400
    assert _status(lambda: _create(hearings, participants=[("director", "observer")])) == 400
    assert _status(lambda: _create(hearings, title="")) == 400
    assert _status(lambda: _create(hearings, case_no="x" * 65)) == 413


def test_listing_filters_by_participant_county_and_state(catalog: Catalog) -> None:
    hearings = Hearings(catalog.engine)
    a = _create(hearings)
    b = _create(hearings, county="B县", station="county-b-court", participants=[])

    def ids(found: list[Hearing]) -> set[str]:
        return {h.id for h in found}

    assert ids(hearings.list(user="obs")) == {a.id}
    assert ids(hearings.list(county="B县")) == {b.id}
    assert ids(hearings.list(user="director")) == {a.id, b.id}
    hearings.transition(b.id, "live", "user:director")
    assert ids(hearings.list(state="live")) == {b.id}
