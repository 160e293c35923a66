"""A hearing session on one timeline, as a picture: one row per stream with its recorded
spans (the session's own recordings in green, the station's recordings before and after
it dimmed), and a row of marks: state changes, directions sent and read, observers'
comments at the session's start plus their media time. A pure function from plain data
to an SVG string, embedded inline (no script), like timeline.py's coverage picture.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, tzinfo

from markupsafe import Markup, escape

from .timeline import SPAN_COLOUR

OTHER_SPAN = "#30503a"  # recorded, but not bound to the session (before or after it)
MARK_COLOURS: dict[str, str] = {
    "state": "#f0f6fc",
    "direction": "#58a6ff",
    "read": "#a5d6ff",
    "comment": "#d29922",
    "interruption": "#f85149",
    "resumed": "#3fb950",
}

WIDTH = 1200
LABEL_W = 200
RIGHT_PAD = 24
ROW_H = 24
BAR_H = 14
AXIS_H = 22
MARK_ROW_H = 34
MIN_SPAN_PX = 1.5


@dataclass(frozen=True)
class Span:
    start: datetime
    end: datetime
    bound: bool  # one of the session's recordings
    tip: str
    href: str | None = None


@dataclass(frozen=True)
class Mark:
    at: datetime
    kind: str  # state | direction | read | comment | interruption | resumed
    tip: str
    href: str | None = None


@dataclass
class StreamRow:
    stream: str
    label: str
    spans: list[Span] = field(default_factory=list)


def ms(at: datetime) -> int:
    """Unix milliseconds: how the page and the player name a wall-clock time."""
    return round(at.timestamp() * 1000)


def render_svg(
    rows: Sequence[StreamRow],
    marks: Sequence[Mark],
    start: datetime,
    end: datetime,
    tz: tzinfo,
    title: str,
    marks_label: str,
) -> Markup:
    """`start`/`end`: the picture's span (aware datetimes); ticks chosen to fit."""
    if end <= start:
        raise ValueError("the timeline's end must be after its start")
    total = (end - start).total_seconds()
    track_w = WIDTH - LABEL_W - RIGHT_PAD
    height = AXIS_H + len(rows) * ROW_H + MARK_ROW_H + 4

    def x(at: datetime) -> float:
        secs = min(max((at - start).total_seconds(), 0.0), total)
        return LABEL_W + secs / total * track_w

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="timeline session-timeline" '
        f'role="img" viewBox="0 0 {WIDTH} {height}" width="100%" '
        f'data-start="{ms(start)}" data-end="{ms(end)}">',
        f"<title>{escape(title)}</title>",
    ]
    step = _tick_step(total)
    first = int(start.timestamp() // step + 1) * step
    tick = first
    while tick <= end.timestamp():
        at = datetime.fromtimestamp(tick, tz)
        tx = x(at)
        label = at.strftime("%H:%M" if step >= 60 else "%H:%M:%S")
        out.append(
            f'<line class="tick" x1="{tx:.1f}" y1="{AXIS_H - 4}" x2="{tx:.1f}" y2="{height}" '
            f'stroke="#30363d" stroke-width="1"/><text x="{tx:.1f}" y="{AXIS_H - 8}" '
            f'fill="#8b949e" font-size="11" text-anchor="middle">{label}</text>'
        )
        tick += step
    for i, row in enumerate(rows):
        top = AXIS_H + i * ROW_H
        bar_y = top + (ROW_H - BAR_H) / 2
        out.append(f'<g class="row" data-stream="{escape(row.stream)}">')
        out.append(
            f'<rect class="track" x="{LABEL_W}" y="{bar_y}" width="{track_w}" '
            f'height="{BAR_H}" fill="#161b22"/>'
            f'<text x="6" y="{top + ROW_H / 2 + 4}" fill="#e6edf3" font-size="12">'
            f"{escape(row.label)}</text>"
        )
        for span in row.spans:
            x0 = x(span.start)
            w = max(x(span.end) - x0, MIN_SPAN_PX)
            cls = "span bound" if span.bound else "span"
            colour = SPAN_COLOUR if span.bound else OTHER_SPAN
            rect = (
                f'<rect class="{cls}" x="{x0:.2f}" y="{bar_y}" width="{w:.2f}" '
                f'height="{BAR_H}" fill="{colour}"><title>{escape(span.tip)}</title></rect>'
            )
            out.append(f'<a href="{escape(span.href)}">{rect}</a>' if span.href else rect)
        out.append("</g>")
    top = AXIS_H + len(rows) * ROW_H
    out.append(
        f'<g class="marks"><text x="6" y="{top + MARK_ROW_H / 2 + 4}" fill="#e6edf3" '
        f'font-size="12">{escape(marks_label)}</text>'
    )
    for mark in sorted(marks, key=lambda m: m.at):
        mx = x(mark.at)
        colour = MARK_COLOURS.get(mark.kind, "#8b949e")
        shape = (
            f'<g class="mark {escape(mark.kind)}" data-at="{ms(mark.at)}">'
            f"<title>{escape(mark.tip)}</title>"
            f'<line x1="{mx:.2f}" y1="{AXIS_H}" x2="{mx:.2f}" y2="{top + 6}" '
            f'stroke="{colour}" stroke-width="1" stroke-dasharray="2 3" opacity=".6"/>'
            f'<polygon points="{mx - 5:.2f},{top + 8} {mx + 5:.2f},{top + 8} '
            f'{mx:.2f},{top + 18}" fill="{colour}"/></g>'
        )
        out.append(f'<a href="{escape(mark.href)}">{shape}</a>' if mark.href else shape)
    out.append("</g></svg>")
    return Markup("".join(out))


def _tick_step(total: float) -> int:
    """Seconds between ticks: about ten across the picture."""
    for step in (10, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200):
        if total / step <= 12:
            return step
    return 3 * 3600
