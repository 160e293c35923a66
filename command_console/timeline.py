"""The coverage timeline as a picture: one row per station over a span of wall-clock time
(a day), recorded spans and the gaps of the continuity log, hour ticks. A pure function
from plain data to an SVG string, embedded inline in the page (no script needed).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo

from markupsafe import Markup, escape

# Gap colours by continuity kind (the legend uses the same table).
GAP_COLOURS: dict[str, str] = {
    "publisher-disconnect": "#d29922",
    "loss": "#e3b341",
    "keyframe-wait": "#58a6ff",
    "write-failure": "#f85149",
    "disk-full": "#f85149",
    "lost-on-crash": "#bc8cff",
    "node-crash": "#bc8cff",
    "node-lost": "#bc8cff",  # a station failed over from a lost node to this one
    "session-cut": "#8b949e",  # covered by the previous recording (a cut-over)
    "spool-full": "#f85149",  # a station's spool segment removed before upload
    "clock": "#db6d28",  # no gap: a track timed by arrival from here (its clock was off)
    "dropped": "#e3b341",  # frames received and not written (late, or the writer behind)
}
OTHER_GAP = "#8b949e"
SPAN_COLOUR = "#3fb950"

WIDTH = 1200
LABEL_W = 220
RIGHT_PAD = 24
ROW_H = 26
BAR_H = 16
AXIS_H = 22
MIN_SPAN_PX = 1.5  # a short recording is still visible in a whole day
MIN_GAP_PX = 3.0


@dataclass(frozen=True)
class Bar:
    start: datetime
    end: datetime | None  # None: until the end of the picture
    tip: str
    href: str | None = None


@dataclass(frozen=True)
class GapBar(Bar):
    kind: str = ""


@dataclass
class Row:
    key: str  # station id (or stream id of an unregistered stream)
    label: str
    sublabel: str = ""
    href: str | None = None  # the label links there (the station's recordings that day)
    spans: list[Bar] = field(default_factory=list)
    gaps: list[GapBar] = field(default_factory=list)


def gap_colour(kind: str) -> str:
    return GAP_COLOURS.get(kind, OTHER_GAP)


def _hhmm(value: datetime, tz: tzinfo) -> str:
    return value.astimezone(tz).strftime("%H:%M:%S")


def span_tip(start: datetime, end: datetime, tz: tzinfo, label: str) -> str:
    return f"{label} {_hhmm(start, tz)} - {_hhmm(end, tz)}"


def gap_tip(start: datetime, end: datetime | None, tz: tzinfo, kind_label: str, reason: str) -> str:
    until = _hhmm(end, tz) if end is not None else "…"
    return f"{kind_label} {_hhmm(start, tz)} - {until}: {reason}"


def render_svg(
    rows: Sequence[Row],
    start: datetime,
    end: datetime,
    tz: tzinfo,
    title: str = "",
    empty_text: str = "",
    tick_hours: int | None = None,
) -> Markup:
    """The picture. `start`/`end` aware datetimes; ticks every `tick_hours` (auto)."""
    if end <= start:
        raise ValueError("the timeline's end must be after its start")
    total = (end - start).total_seconds()
    track_w = WIDTH - LABEL_W - RIGHT_PAD
    height = AXIS_H + max(len(rows), 1) * ROW_H + 4

    def x(at: datetime) -> float:
        secs = min(max((at - start).total_seconds(), 0.0), total)
        return LABEL_W + secs / total * track_w

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="timeline" role="img" '
        f'viewBox="0 0 {WIDTH} {height}" width="100%" data-start="{start.isoformat()}" '
        f'data-end="{end.isoformat()}">',
        f"<title>{escape(title)}</title>",
    ]
    hours = tick_hours or max(1, round(total / 3600 / 12))
    tick = start.astimezone(tz).replace(minute=0, second=0, microsecond=0)
    if tick < start:
        tick += timedelta(hours=1)
    while tick <= end:
        if tick.hour % hours == 0:
            tx = x(tick)
            out.append(
                f'<line class="tick" x1="{tx:.1f}" y1="{AXIS_H - 4}" x2="{tx:.1f}" '
                f'y2="{height}" stroke="#30363d" stroke-width="1"/>'
                f'<text x="{tx:.1f}" y="{AXIS_H - 8}" fill="#8b949e" font-size="11" '
                f'text-anchor="middle">{tick.strftime("%H:%M")}</text>'
            )
        tick += timedelta(hours=1)
    if not rows:
        out.append(
            f'<text x="{WIDTH / 2}" y="{AXIS_H + ROW_H / 2 + 4}" fill="#8b949e" '
            f'font-size="13" text-anchor="middle">{escape(empty_text)}</text>'
        )
    for i, row in enumerate(rows):
        top = AXIS_H + i * ROW_H
        bar_y = top + (ROW_H - BAR_H) / 2
        out.append(f'<g class="row" data-key="{escape(row.key)}">')
        out.append(
            f'<rect class="track" x="{LABEL_W}" y="{bar_y}" width="{track_w}" '
            f'height="{BAR_H}" fill="#161b22"/>'
        )
        label = escape(row.label)
        if row.sublabel:
            label = Markup('{} <tspan fill="#8b949e">{}</tspan>').format(label, row.sublabel)
        text = f'<text x="6" y="{top + ROW_H / 2 + 4}" fill="#e6edf3" font-size="12">{label}</text>'
        out.append(f'<a href="{escape(row.href)}">{text}</a>' if row.href else text)
        for span in row.spans:
            out.append(_rect(span, "span", SPAN_COLOUR, x, end, bar_y, BAR_H, MIN_SPAN_PX))
        for gap in row.gaps:
            # Gaps drawn over the spans' edges, a little taller, so they stand out.
            out.append(
                _rect(gap, "gap", gap_colour(gap.kind), x, end, bar_y - 2, BAR_H + 4, MIN_GAP_PX)
            )
        out.append("</g>")
    out.append("</svg>")
    return Markup("".join(out))


def _rect(
    bar: Bar,
    cls: str,
    colour: str,
    x: Callable[[datetime], float],
    end: datetime,
    y: float,
    h: float,
    min_w: float,
) -> str:
    x0 = x(bar.start)
    w = max(x(bar.end or end) - x0, min_w)
    kind = f' data-kind="{escape(bar.kind)}"' if isinstance(bar, GapBar) else ""
    rect = (
        f'<rect class="{cls}"{kind} x="{x0:.2f}" y="{y}" width="{w:.2f}" height="{h}" '
        f'fill="{colour}"><title>{escape(bar.tip)}</title></rect>'
    )
    if bar.href:
        return f'<a href="{escape(bar.href)}">{rect}</a>'
    return rect
