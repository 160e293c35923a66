"""Why a span is missing from a recording: the `reason` of a manifest's continuity entry.

The manifest keeps the reason as English text (it is signed evidence, read without
vdispatch). Each text is declared once here, by code: `reason(code, **values)` writes
one, `parse(text)` gives the code and values back, so a console can show the reason in
its own language. A text that matches no code (an older manifest) is shown as it is.
"""

from __future__ import annotations

import re
from functools import cache

REASONS: dict[str, str] = {
    "publisher-reconnected": "publisher reconnected",
    "first-keyframe": "waiting for the first keyframe",
    "publisher-disconnected": "publisher disconnected",
    "recording-closed": "recording closed",
    "video-packets-lost": "{packets} video packets lost and not repaired by NACK",
    "audio-packets-lost": "{packets} audio packets lost and not repaired by NACK",
    "write-failed": "segment not written: {error}",
    "lost-on-crash": "node stopped while this span was being written; not recoverable",
    "node-crash": "recording interrupted by a node crash",
    # A station's spool (kind "spool-full"): a segment never uploaded, removed for space.
    "spool-evicted": "segment {index} removed from the station's full spool before upload",
    "spool-dropped": "{frames} frames dropped: the station's spool writer fell behind",
    # A frame's wall clock implausible on the node's clock (kind "clock"): its track is
    # timed by arrival from then on.
    "clock-reanchored": "{track} timestamps {seconds} s off the node's clock: timed by arrival",
    # Frames received but not written (kind "dropped", one entry per burst): timed before
    # the segment they would belong to began (a late frame, a re-timed one), or the
    # recording's writer too far behind.
    "frames-dropped-late": "{frames} {track} frames dropped: timed before their segment began",
    "frames-dropped-backlog": "{frames} {track} frames dropped: the recording's writer fell behind",
    # Cut-overs between recordings of one stream (kind "session-cut"): the span at a new
    # recording's head the previous recording covers, and a previous recording closed
    # before the new one had its first keyframe.
    "cut-timeout": "no keyframe {seconds} s after the cut: closed before the next one began",
    # A stream taken over from a lost node (kind "node-lost"): from the end of the last
    # segment that node's recording catalogued to this recording's first frame.
    "node-lost": "continued from node {node} (recording {recording}); "
    "its publisher was lost at {time}",
    # Why a recording closed (the manifest's end_reason).
    "node-stopped": "node stopped",
    "publisher-lost": "publisher lost",
    "codecs-changed": "codecs changed",
    "node-crashed": "node crashed",
    # Why a recording was cut over to a new one (end_reason, and the new one's first
    # continuity entry): a session covering the stream went live or ended.
    "session-started": "session {session} started",
    "session-ended": "session {session} ended",
    "session-changed": "the stream's session changed",
}
_FIELD = re.compile(r"\{(\w+)\}")


def reason(code: str, **values: object) -> str:
    return REASONS[code].format(**values)


@cache
def _patterns() -> list[tuple[str, re.Pattern[str]]]:
    out = []
    for code, text in REASONS.items():
        parts = _FIELD.split(text)  # literal, field, literal, field, …
        pattern = "".join(
            re.escape(p) if i % 2 == 0 else f"(?P<{p}>.+?)" for i, p in enumerate(parts)
        )
        out.append((code, re.compile(pattern + r"\Z", re.DOTALL)))
    return out


def parse(text: str) -> tuple[str, dict[str, str]] | None:
    """(code, values) of a reason written by `reason`; None for any other text."""
    for code, pattern in _patterns():
        found = pattern.match(text)
        if found:
            return code, found.groupdict()
    return None
