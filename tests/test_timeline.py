"""The coverage timeline picture, from plain data; and the catalog's coverage of a real
recording whose publisher went away and came back."""

from __future__ import annotations

import re
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from catalog.recordings import Catalog
from catalog.settings import CatalogSettings
from catalog.timeline import coverage, merge_spans
from command_console import timeline

DAY = datetime(2026, 11, 27, tzinfo=UTC)


def at(hours: float) -> datetime:
    return DAY + timedelta(hours=hours)


def rects(svg: str, cls: str) -> list[dict[str, str]]:
    found = []
    for m in re.finditer(rf'<rect class="{cls}"([^>]*)>(?:<title>([^<]*)</title>)?', svg):
        attrs = dict(re.findall(r'([\w-]+)="([^"]*)"', m.group(1)))
        attrs["title"] = m.group(2) or ""
        found.append(attrs)
    return found


def test_spans_and_a_gap_are_drawn_where_they_are() -> None:
    row = timeline.Row("court", "第一法庭", "甲县")
    row.spans = [
        timeline.Bar(at(8), at(10), "recorded 08-10", "/archive/r1"),
        timeline.Bar(at(10.5), at(12), "recorded 10:30-12", "/archive/r1"),
    ]
    row.gaps = [
        timeline.GapBar(
            at(10), at(10.5), "publisher disconnected", "/archive/r1", "publisher-disconnect"
        )
    ]
    svg = str(timeline.render_svg([row], DAY, DAY + timedelta(days=1), UTC, title="t"))
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    spans, gaps = rects(svg, "span"), rects(svg, "gap")
    assert len(spans) == 2 and len(gaps) == 1
    track_w = timeline.WIDTH - timeline.LABEL_W - timeline.RIGHT_PAD

    def x(hours: float) -> float:
        return timeline.LABEL_W + hours / 24 * track_w

    assert float(spans[0]["x"]) == pytest.approx(x(8), abs=0.01)
    assert float(spans[0]["width"]) == pytest.approx(x(10) - x(8), abs=0.01)
    gap = gaps[0]
    assert float(gap["x"]) == pytest.approx(x(10), abs=0.01)
    assert float(gap["width"]) == pytest.approx(x(10.5) - x(10), abs=0.01)
    assert gap["data-kind"] == "publisher-disconnect"
    assert gap["fill"] == timeline.GAP_COLOURS["publisher-disconnect"]
    assert gap["title"] == "publisher disconnected"
    # The gap lies between the spans, not over them.
    assert float(spans[0]["x"]) + float(spans[0]["width"]) <= float(gap["x"]) + 0.01
    assert float(gap["x"]) + float(gap["width"]) <= float(spans[1]["x"]) + 0.01
    assert 'href="/archive/r1"' in svg
    assert "第一法庭" in svg and "甲县" in svg
    # Hour ticks every 2 hours over a day: 00:00 … 24:00.
    assert len(re.findall(r'<line class="tick"', svg)) == 13
    assert ">12:00<" in svg


def test_short_spans_stay_visible_and_text_is_escaped() -> None:
    row = timeline.Row(
        "x", "<b>&", spans=[timeline.Bar(at(3), at(3) + timedelta(seconds=5), "a<b")]
    )
    svg = str(timeline.render_svg([row], DAY, DAY + timedelta(days=1), UTC))
    (span,) = rects(svg, "span")
    assert float(span["width"]) >= timeline.MIN_SPAN_PX
    assert "<b>&" not in svg and "&lt;b&gt;&amp;" in svg and "a&lt;b" in svg


def test_an_open_gap_runs_to_the_end_and_unknown_kinds_are_grey() -> None:
    row = timeline.Row("x", "x", gaps=[timeline.GapBar(at(20), None, "?", None, "mystery")])
    svg = str(timeline.render_svg([row], DAY, DAY + timedelta(days=1), UTC))
    (gap,) = rects(svg, "gap")
    assert float(gap["x"]) + float(gap["width"]) == pytest.approx(
        timeline.WIDTH - timeline.RIGHT_PAD, abs=0.01
    )
    assert gap["fill"] == timeline.OTHER_GAP


def test_no_rows_says_so() -> None:
    svg = str(timeline.render_svg([], DAY, DAY + timedelta(days=1), UTC, empty_text="nothing"))
    assert "nothing" in svg and not rects(svg, "span")
    with pytest.raises(ValueError):
        timeline.render_svg([], DAY, DAY, UTC)


def test_adjacent_segments_merge_into_one_span() -> None:
    segs = [
        ("r", at(1), at(1) + timedelta(seconds=10)),
        ("r", at(1) + timedelta(seconds=10.2), at(1) + timedelta(seconds=20)),
        ("r", at(1) + timedelta(seconds=40), at(1) + timedelta(seconds=50)),
        ("s", at(1) + timedelta(seconds=50), at(1) + timedelta(seconds=60)),
    ]
    spans = merge_spans(segs)
    assert [(s.recording_id, s.start, s.end) for s in spans] == [
        ("r", at(1), at(1) + timedelta(seconds=20)),
        ("r", at(1) + timedelta(seconds=40), at(1) + timedelta(seconds=50)),
        ("s", at(1) + timedelta(seconds=50), at(1) + timedelta(seconds=60)),
    ]


def test_coverage_of_a_real_recording_with_a_disconnect(tmp_path: Path, gap_template: Path) -> None:
    data = tmp_path / "var"
    shutil.copytree(gap_template, data / "recordings" / gap_template.name)
    catalog = Catalog.open(CatalogSettings(data_dir=data))
    try:
        catalog.sync()
        rec = catalog.recording(gap_template.name)
        assert rec is not None
        first = datetime.fromisoformat(rec["started_at"].replace("Z", "+00:00"))
        found = coverage(catalog, first - timedelta(hours=1), first + timedelta(hours=1))
    finally:
        catalog.dispose()
    cov = found["cam"]
    assert len(cov.spans) == 2, cov.spans
    (gap,) = cov.gaps
    assert gap.kind == "publisher-disconnect"
    assert gap.end is not None
    assert cov.spans[0].end <= gap.start + timedelta(seconds=0.1)
    assert gap.end <= cov.spans[1].start + timedelta(seconds=0.1)
    assert (gap.end - gap.start).total_seconds() == pytest.approx(20, abs=0.5)
    # And drawn: two green spans with the gap between them.
    row = timeline.Row("cam", "cam")
    row.spans = [timeline.Bar(s.start, s.end, "") for s in cov.spans]
    row.gaps = [timeline.GapBar(gap.start, gap.end, gap.reason, None, gap.kind)]
    window = (cov.spans[0].start - timedelta(minutes=1), cov.spans[-1].end + timedelta(minutes=1))
    svg = str(timeline.render_svg([row], *window, UTC))
    spans, gaps = rects(svg, "span"), rects(svg, "gap")
    assert float(spans[0]["x"]) < float(gaps[0]["x"]) < float(spans[1]["x"])
