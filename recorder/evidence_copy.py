"""The evidence copy: one MP4 of a sealed session, derived from its original recordings.

The room's camera is the main picture, the prosecutor the picture-in-picture, the trusted
wall-clock time and the case caption burned in, both sides' audio mixed. Time comes from
the recordings' own timeline (a frame's wall clock is its segment's `start` plus its pts),
never from an encoder clock, so what the copy shows at a moment is what was recorded then.
Whatever the recordings do not cover shows as a slate (the label of the plan's CopyGap
for that picture and time, else "无画面 No picture"), never as a silently frozen picture;
where a recording does cover a moment, its picture is shown, whatever the gaps say.

Streaming throughout: each picture is a generator of decoded frames, segment by segment,
and the compositor pulls one output tick at a time, so memory stays flat however long
the session (all but the MP4 muxer's sample index, some 70 bytes a packet, ~20 MB an
hour: an MP4 whose index goes first, +faststart, keeps it until the end). Composition
works on yuv420p planes (what the decoders give and the encoder takes), so no frame is
ever converted to RGB and back. Blocking: run `render_copy` in a thread.

A segment that cannot be opened or decoded (corrupt, missing) is not fatal: its span shows
a slate "片段无法读取 Segment unreadable · <file>" and the copy says so where it happened.
The originals are the evidence and `verify` names the damage; the copy only must not hide
it. Only when nothing at all is decodable does rendering fail (CopyError).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import shutil
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from fractions import Fraction
from functools import cache
from pathlib import Path
from typing import Any, cast

import av
import cv2
import numpy as np
import numpy.typing as npt

from . import manifest as mf
from .manifest import fsync_dir

logger = logging.getLogger(__name__)

Plane = npt.NDArray[np.uint8]

# The budget is real time on one core: every codec runs single-threaded, so a copy job
# takes one core of the node and the bench measures exactly that.
THREADS = 1
# veryfast without its inter sub-partitions (p8x8): ~20 % less encoder time for the same
# size on 720p camera-like content; the encoder is most of the copy's cost (bench/).
X264_PRESET = "veryfast"
X264_CRF = "23"
X264_PARAMS = "partitions=i8x8,i4x4"
AUDIO_RATE = 48000
AUDIO_BITRATE = 96_000
AAC_FRAME = 1024
PROGRESS_INTERVAL = 0.25  # seconds between progress calls
# The clock shows Beijing time: the recordings' wall clock is UTC, but the interrogation
# record (笔录), the summons and everyone in the room read Beijing time, so the copy
# must show the time they would write down (China has no daylight saving time).
BEIJING = timezone(timedelta(hours=8))
NO_PICTURE = "无画面 No picture"
UNREADABLE = "片段无法读取 Segment unreadable · {file}"
BLACK_Y, GREY_Y, WHITE_Y, NEUTRAL_UV = 16, 48, 235, 128


class CopyError(Exception):
    """The copy could not be made; str() says why (no decodable picture, disk error…)."""


@dataclass(frozen=True)
class CopyGap:
    start: datetime  # aware UTC
    end: datetime
    where: str  # "main" | "pip": which picture the interruption took away
    label: str  # the slate's text


@dataclass(frozen=True)
class CopyPlan:
    main: list[Path]  # recording directories of the main picture (the room), oldest first
    pip: list[Path]  # recording directories of the picture-in-picture (the prosecutor)
    start: datetime  # the session's span (aware UTC): the copy covers exactly start..end
    end: datetime
    caption: str  # burned in next to the time
    gaps: tuple[CopyGap, ...] = ()
    width: int = 1280
    height: int = 720
    fps: int = 25


@dataclass(frozen=True)
class CopyResult:
    path: Path
    sha256: str  # hex of the final file
    bytes: int
    duration: float  # seconds (of the written file)
    frames: int


# ------------------------------------------------------------------ layout


@dataclass(frozen=True)
class Rect:
    x: int
    y: int
    w: int
    h: int


@dataclass(frozen=True)
class Layout:
    """Where everything goes in a width x height picture (all even, for 4:2:0 chroma)."""

    main: Rect  # the whole picture; the main source is fitted (letterboxed) into it
    pip: Rect  # the picture-in-picture box, bottom-right, inside its border
    border: int
    bar: Rect  # the time and caption bar, across the top


def _even(v: float) -> int:
    return max(2, round(v / 2) * 2)


def layout(width: int, height: int) -> Layout:
    margin = _even(width / 64)
    border = _even(width / 640)
    pw, ph = _even(width / 4), _even(height / 4)
    pip = Rect(width - margin - border - pw, height - margin - border - ph, pw, ph)
    bar = Rect(0, 0, width, _even(max(16, height / 18)))
    return Layout(Rect(0, 0, width, height), pip, border, bar)


def fit(src_w: int, src_h: int, box: Rect) -> Rect:
    """The source's picture scaled to fit the box, aspect kept, centred (even coordinates)."""
    scale = min(box.w / src_w, box.h / src_h)
    w, h = min(box.w, _even(src_w * scale)), min(box.h, _even(src_h * scale))
    x = box.x + ((box.w - w) // 4) * 2
    y = box.y + ((box.h - h) // 4) * 2
    return Rect(x, y, w, h)


# ------------------------------------------------------------------ planes


class Canvas:
    """One yuv420p picture as three plane views of one buffer (the layout PyAV's
    VideoFrame.from_ndarray takes), so handing it to the encoder is a single copy."""

    def __init__(self, width: int, height: int) -> None:
        self.width, self.height = width, height
        n = width * height
        self.buf = np.empty(n * 3 // 2, dtype=np.uint8)
        self.y = self.buf[:n].reshape(height, width)
        self.u = self.buf[n : n * 5 // 4].reshape(height // 2, width // 2)
        self.v = self.buf[n * 5 // 4 :].reshape(height // 2, width // 2)

    def fill(self, rect: Rect, y: int, uv: int = NEUTRAL_UV) -> None:
        self.y[rect.y : rect.y + rect.h, rect.x : rect.x + rect.w] = y
        cy, cx, ch, cw = rect.y // 2, rect.x // 2, rect.h // 2, rect.w // 2
        self.u[cy : cy + ch, cx : cx + cw] = uv
        self.v[cy : cy + ch, cx : cx + cw] = uv

    def paste(self, rect: Rect, planes: tuple[Plane, Plane, Plane]) -> None:
        py, pu, pv = planes
        self.y[rect.y : rect.y + rect.h, rect.x : rect.x + rect.w] = py
        cy, cx, ch, cw = rect.y // 2, rect.x // 2, rect.h // 2, rect.w // 2
        self.u[cy : cy + ch, cx : cx + cw] = pu
        self.v[cy : cy + ch, cx : cx + cw] = pv

    def frame(self) -> av.VideoFrame:
        return av.VideoFrame.from_ndarray(
            self.buf.reshape(self.height * 3 // 2, self.width), format="yuv420p"
        )


def frame_planes(frame: av.VideoFrame) -> tuple[Plane, Plane, Plane]:
    """A decoded frame's Y, U, V planes (yuv420p, even size)."""
    w, h = frame.width & ~1, frame.height & ~1
    if frame.format.name != "yuv420p" or (w, h) != (frame.width, frame.height):
        frame = frame.reformat(width=w, height=h, format="yuv420p")
    flat: Plane = np.ascontiguousarray(frame.to_ndarray(), dtype=np.uint8).reshape(-1)
    n = w * h
    return (
        flat[:n].reshape(h, w),
        flat[n : n * 5 // 4].reshape(h // 2, w // 2),
        flat[n * 5 // 4 : n * 3 // 2].reshape(h // 2, w // 2),
    )


def scale_planes(planes: tuple[Plane, Plane, Plane], w: int, h: int) -> tuple[Plane, Plane, Plane]:
    py, pu, pv = planes
    if py.shape == (h, w):
        return planes
    # INTER_AREA when shrinking (the PiP): no aliasing; linear when enlarging.
    interp = cv2.INTER_AREA if w < py.shape[1] else cv2.INTER_LINEAR
    return (
        cast(Plane, cv2.resize(py, (w, h), interpolation=interp)),
        cast(Plane, cv2.resize(pu, (w // 2, h // 2), interpolation=interp)),
        cast(Plane, cv2.resize(pv, (w // 2, h // 2), interpolation=interp)),
    )


# ------------------------------------------------------------------ text


# Chinese fonts, best first, when fontconfig cannot say (Debian: fonts-noto-cjk,
# fonts-wqy-microhei, fonts-wqy-zenhei, fonts-droid-fallback).
_CJK_FONTS = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
)
_LATIN_FONTS = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
)
# Characters below this (Latin, digits, general punctuation such as the middle dot and
# dashes) are drawn with the Latin font: some Chinese fonts (Droid Sans Fallback) have
# no Latin glyphs.
_CJK_FROM = 0x2E80


def _fc(args: list[str]) -> str:
    if not shutil.which(args[0]):
        return ""
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        return subprocess.run(
            args, capture_output=True, text=True, timeout=5, check=False
        ).stdout.strip()
    return ""


@cache
def fonts() -> tuple[str | None, str | None]:
    """(Latin font, Chinese font) files on this machine, fontconfig's choice first."""
    latin = _fc(["fc-match", "-f", "%{file}", "sans:lang=en"])
    if not (latin and Path(latin).is_file()):
        latin = next((p for p in _LATIN_FONTS if Path(p).is_file()), "")
    cjk = _fc(["fc-match", "-f", "%{file}", ":lang=zh"])
    if not (cjk and Path(cjk).is_file() and "zh" in _fc(["fc-query", "-f", "%{lang}", cjk])):
        cjk = next((p for p in _CJK_FONTS if Path(p).is_file()), "")
    return latin or None, cjk or None


def _pillow() -> Any:
    try:
        from PIL import Image, ImageDraw, ImageFont
    except ImportError:
        return None
    return Image, ImageDraw, ImageFont


class TextRenderer:
    """Text as an alpha mask (uint8, 0..255), cached: the caption never changes, the clock
    once a second, slates once per label. Through Pillow with a Latin and a Chinese font
    when the machine has them (each run of text in the font that has its glyphs);
    otherwise OpenCV's Hershey font with the non-ASCII left out. Never fails on text."""

    def __init__(self, font_files: tuple[str | None, str | None] | None = None) -> None:
        """font_files: (Latin, Chinese) font files; by default those of `fonts()`."""
        self._pil = _pillow()
        latin, cjk = (font_files or fonts()) if self._pil else (None, None)
        self._paths = {"latin": latin or cjk, "cjk": cjk}
        self._fonts: dict[tuple[str, int], Any] = {}
        self._cache: dict[tuple[str, int], Plane] = {}

    @property
    def cjk(self) -> bool:
        """Chinese text is drawn (else it is left out)."""
        return self._paths["cjk"] is not None

    def mask(self, text: str, size: int) -> Plane:
        key = (text, size)
        found = self._cache.get(key)
        if found is None:
            if len(self._cache) > 256:  # clocks of seconds gone by
                self._cache.clear()
            found = self._cache[key] = self._render(text, size)
        return found

    def _font(self, which: str, size: int) -> Any:
        font = self._fonts.get((which, size))
        if font is None:
            font = self._pil[2].truetype(self._paths[which], size)
            self._fonts[(which, size)] = font
        return font

    def _runs(self, text: str) -> list[tuple[str, str]]:
        runs: list[tuple[str, str]] = []
        for c in text:
            which = "cjk" if ord(c) >= _CJK_FROM else "latin"
            if self._paths[which] is None:
                continue  # no font for it: left out rather than drawn as boxes
            if runs and runs[-1][0] == which:
                runs[-1] = (which, runs[-1][1] + c)
            else:
                runs.append((which, c))
        return runs

    def _render(self, text: str, size: int) -> Plane:
        if self._paths["latin"] is not None:
            try:
                return self._draw(text, size)
            except (OSError, ValueError) as exc:  # a broken font file: carry on without
                logger.warning("evidence copy: fonts %s unusable: %s", self._paths, exc)
                self._paths = {"latin": None, "cjk": None}
        ascii_text = "".join(c for c in text if c.isascii()).strip() or "?"
        scale = size / 30
        thickness = max(1, size // 14)
        (w, h), base = cv2.getTextSize(ascii_text, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)
        out = np.zeros((h + base + 2, w + 2), dtype=np.uint8)
        cv2.putText(
            out,
            ascii_text,
            (1, h + 1),
            cv2.FONT_HERSHEY_SIMPLEX,
            scale,
            255,
            thickness,
            cv2.LINE_AA,
        )
        return out

    def _draw(self, text: str, size: int) -> Plane:
        image_mod, draw_mod, _ = self._pil
        runs = [(self._font(w, size), t) for w, t in self._runs(text)]
        width = max(1, round(sum(f.getlength(t) for f, t in runs)))
        image = image_mod.new("L", (width, size + size // 3), 0)
        draw, x = draw_mod.Draw(image), 0.0
        for font, run in runs:  # on one baseline
            draw.text((x, size), run, fill=255, font=font, anchor="ls")
            x += font.getlength(run)
        return np.asarray(image, dtype=np.uint8).copy()


def draw_mask(plane: Plane, mask: Plane, x: int, y: int, value: int) -> None:
    """Blend `value` into the plane through the mask, clipped to the plane."""
    h = min(mask.shape[0], plane.shape[0] - y)
    w = min(mask.shape[1], plane.shape[1] - x)
    if h <= 0 or w <= 0 or x < 0 or y < 0:
        return
    region = plane[y : y + h, x : x + w]
    a = mask[:h, :w].astype(np.uint16)
    region[:] = ((region.astype(np.uint16) * (255 - a) + value * a) // 255).astype(np.uint8)


# ------------------------------------------------------------------ timeline


def _wall(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


@dataclass(frozen=True)
class _Segment:
    path: Path
    start: float  # wall clock (Unix seconds)
    end: float


def _segments(directories: list[Path], start: float, end: float) -> list[_Segment]:
    """Every closed segment of these recordings overlapping start..end, by start."""
    out = []
    for directory in directories:
        try:
            manifest = mf.load(directory)
        except (OSError, ValueError) as exc:
            raise CopyError(f"recording {directory.name}: manifest unreadable: {exc}") from exc
        for entry in manifest.segments:
            s, e = _wall(entry.start), _wall(entry.end)
            if e >= start and s <= end:
                out.append(_Segment(directory / entry.file, s, e))
    out.sort(key=lambda s: s.start)
    return out


def _open(path: Path) -> av.container.InputContainer:
    return av.open(str(path), "r")


class Picture:
    """One picture's decoded frames in wall-clock order, pulled tick by tick: `at(t)` gives
    the latest frame whose wall time is at most t (within half a frame), None where the
    recordings do not cover t, and records unreadable spans as it meets them."""

    def __init__(self, directories: list[Path], start: float, end: float, fps: int) -> None:
        self.segments = _segments(directories, start, end)
        self.unreadable: list[tuple[float, float, str]] = []
        self._start, self._end = start, end
        self._ahead = 0.5 / fps
        self._upcoming = 0  # the first segment not yet reached
        self._current: list[_Segment] = []  # the reached segments not yet passed
        self.decoded = 0
        self._frames = self._decode()
        self._held: tuple[float, av.VideoFrame] | None = None
        self._next: tuple[float, av.VideoFrame] | None = next(self._frames, None)
        self.any = self._next is not None and self._next[0] <= end

    def _decode(self) -> Iterator[tuple[float, av.VideoFrame]]:
        last = float("-inf")
        for seg in self.segments:
            good = seg.start
            try:
                with _open(seg.path) as container:
                    if not container.streams.video:
                        raise av.error.InvalidDataError(0, "no video stream")
                    stream = container.streams.video[0]
                    stream.thread_count = THREADS
                    tb = stream.time_base or Fraction(1, 1000)
                    for frame in container.decode(stream):
                        if frame.pts is None:
                            continue
                        wall = seg.start + float(frame.pts * tb)
                        if wall <= last:  # overlapping recordings: keep time moving on
                            continue
                        last = good = wall
                        self.decoded += 1
                        yield wall, frame
                        if wall > self._end:
                            return
            except (av.error.FFmpegError, OSError, UnicodeDecodeError) as exc:
                logger.warning("evidence copy: %s unreadable from %.3f: %s", seg.path, good, exc)
                self.unreadable.append((good, seg.end, seg.path.name))

    def covered(self, t: float) -> bool:
        """A segment's span holds t (t only grows: segments are taken in and let go as it
        passes them, so a session of thousands of segments costs no more per tick)."""
        # Within half a frame (a segment's end is already its last frame's end): rounding
        # of wall clocks, nothing more.
        slack = self._ahead
        while (
            self._upcoming < len(self.segments) and self.segments[self._upcoming].start - slack <= t
        ):
            self._current.append(self.segments[self._upcoming])
            self._upcoming += 1
        self._current = [s for s in self._current if t < s.end + slack]
        return bool(self._current)

    def unreadable_at(self, t: float) -> str | None:
        self.unreadable = [u for u in self.unreadable if t < u[1] + self._ahead]
        return next((name for s, _, name in self.unreadable if s < t), None)

    def at(self, t: float) -> tuple[float, av.VideoFrame] | None:
        while self._next is not None and self._next[0] <= t + self._ahead:
            self._held = self._next
            self._next = next(self._frames, None)
        if not self.covered(t) or self.unreadable_at(t) is not None:
            return None
        return self._held

    def close(self) -> None:
        self._frames.close()  # type: ignore[attr-defined]


class Sound:
    """One side's audio on the copy's sample clock (AUDIO_RATE, stereo, float), pulled a
    tick's worth at a time; silence where nothing was recorded."""

    def __init__(self, directories: list[Path], start: float, end: float) -> None:
        self.segments = _segments(directories, start, end)
        self._start = start
        self._chunks: deque[tuple[int, npt.NDArray[np.float32]]] = deque()
        self._source = self._decode()
        self._done = False
        self._reach = 0  # sample index up to which decoded audio is queued

    def _decode(self) -> Iterator[tuple[int, npt.NDArray[np.float32]]]:
        for seg in self.segments:
            try:
                with _open(seg.path) as container:
                    if not container.streams.audio:
                        continue
                    stream = container.streams.audio[0]
                    stream.codec_context.thread_count = THREADS
                    tb = stream.time_base or Fraction(1, 1000)
                    resampler = av.AudioResampler(format="fltp", layout="stereo", rate=AUDIO_RATE)
                    pos: int | None = None
                    for frame in container.decode(stream):
                        if frame.pts is not None:
                            wall = seg.start + float(frame.pts * tb)
                            at = round((wall - self._start) * AUDIO_RATE)
                            # Re-anchored on the recording's clock after a hole (lost packets).
                            if pos is None or abs(at - pos) > AUDIO_RATE // 50:
                                pos = at
                        if pos is None:
                            continue
                        for out in resampler.resample(frame):
                            data = out.to_ndarray().astype(np.float32, copy=False)
                            yield pos, data
                            pos += data.shape[1]
            except (av.error.FFmpegError, OSError, UnicodeDecodeError) as exc:
                logger.warning("evidence copy: audio of %s unreadable: %s", seg.path, exc)

    def take(self, n0: int, n1: int) -> npt.NDArray[np.float32] | None:
        """Samples n0..n1 (2 x n); None when this side has nothing there (silence)."""
        while not self._done and self._reach < n1:
            item = next(self._source, None)
            if item is None:
                self._done = True
                break
            self._chunks.append(item)
            self._reach = max(self._reach, item[0] + item[1].shape[1])
        out: npt.NDArray[np.float32] | None = None
        for pos, data in self._chunks:
            lo, hi = max(pos, n0), min(pos + data.shape[1], n1)
            if lo < hi:
                if out is None:
                    out = np.zeros((2, n1 - n0), dtype=np.float32)
                out[:, lo - n0 : hi - n0] = data[:, lo - pos : hi - pos]
        while self._chunks and self._chunks[0][0] + self._chunks[0][1].shape[1] <= n1:
            self._chunks.popleft()
        return out

    def close(self) -> None:
        self._source.close()  # type: ignore[attr-defined]


def _has_audio(directories: list[Path]) -> bool:
    for directory in directories:
        with contextlib.suppress(OSError, ValueError):
            if "audio" in mf.load(directory).codecs:
                return True
    return False


# ------------------------------------------------------------------ compositor


class Compositor:
    """Output picture k of the copy: main, PiP, slates, the bar; reuses what did not change."""

    def __init__(self, plan: CopyPlan, text: TextRenderer) -> None:
        self.plan = plan
        self.text = text
        self.layout = layout(plan.width, plan.height)
        self.canvas = Canvas(plan.width, plan.height)
        self._scaled: dict[str, tuple[float, tuple[Plane, Plane, Plane], Rect]] = {}
        self._slates: dict[tuple[str, int, int], Plane] = {}
        self._bar_second: int | None = None
        self._bar: Plane | None = None
        bar = self.layout.bar
        self._font = max(10, int(bar.h * 0.7))

    def _picture(self, which: str, held: tuple[float, av.VideoFrame], box: Rect) -> None:
        # The same decoded frame held over several ticks is converted and scaled once.
        # Known by its wall time: unique within a picture, as times only grow.
        wall, frame = held
        cached = self._scaled.get(which)
        if cached is None or cached[0] != wall:
            rect = fit(frame.width, frame.height, box)
            planes = scale_planes(frame_planes(frame), rect.w, rect.h)
            cached = self._scaled[which] = (wall, planes, rect)
        _, planes, rect = cached
        if (rect.w, rect.h) != (box.w, box.h):
            self.canvas.fill(box, BLACK_Y)
        self.canvas.paste(rect, planes)

    def _slate(self, label: str, box: Rect) -> None:
        key = (label, box.w, box.h)
        slate = self._slates.get(key)
        if slate is None:
            slate = np.full((box.h, box.w), GREY_Y, dtype=np.uint8)
            lines = [p for p in label.split(" · ") if p] or [label]
            # One size for every line: the largest at which the longest fits.
            size = max(8, min(box.h // (2 * len(lines) + 2), box.w // 24))
            while size > 8 and any(
                self.text.mask(line, size).shape[1] > box.w * 9 // 10 for line in lines
            ):
                size = size * 5 // 6
            masks = [self.text.mask(line, size) for line in lines]
            total = sum(m.shape[0] for m in masks)
            y = max(0, (box.h - total) // 2)
            for m in masks:
                draw_mask(slate, m, max(0, (box.w - m.shape[1]) // 2), y, WHITE_Y)
                y += m.shape[0]
            self._slates[key] = slate
        self.canvas.fill(box, 0)
        self.canvas.y[box.y : box.y + box.h, box.x : box.x + box.w] = slate

    def bar(self, t: float) -> Plane:
        second = int(t)
        if self._bar is None or second != self._bar_second:
            bar = self.layout.bar
            plane = np.full((bar.h, bar.w), BLACK_Y, dtype=np.uint8)
            local = datetime.fromtimestamp(second, BEIJING)
            zone = "北京时间 UTC+8" if self.text.cjk else "UTC+8 (Beijing)"
            clock = self.text.mask(f"{local:%Y-%m-%d %H:%M:%S} {zone}", self._font)
            caption = self.text.mask(self.plan.caption, self._font)
            pad = bar.h // 3
            y = max(0, (bar.h - clock.shape[0]) // 2)
            draw_mask(plane, clock, pad, y, WHITE_Y)
            cx = max(pad + clock.shape[1] + 2 * pad, bar.w - pad - caption.shape[1])
            draw_mask(plane, caption, cx, max(0, (bar.h - caption.shape[0]) // 2), WHITE_Y)
            self._bar, self._bar_second = plane, second
        return self._bar

    def compose(
        self,
        t: float,
        main: tuple[float, av.VideoFrame] | None,
        main_slate: str,
        pip: tuple[float, av.VideoFrame] | None,
        pip_slate: str,
    ) -> av.VideoFrame:
        lay = self.layout
        if main is not None:
            self._picture("main", main, lay.main)
        else:
            self._slate(main_slate, lay.main)
        b = lay.border
        border = Rect(lay.pip.x - b, lay.pip.y - b, lay.pip.w + 2 * b, lay.pip.h + 2 * b)
        self.canvas.fill(border, WHITE_Y)
        if pip is not None:
            self._picture("pip", pip, lay.pip)
        else:
            self._slate(pip_slate, lay.pip)
        self.canvas.fill(lay.bar, BLACK_Y)
        bar = self.bar(t)
        self.canvas.y[lay.bar.y : lay.bar.y + lay.bar.h, lay.bar.x : lay.bar.x + lay.bar.w] = bar
        return self.canvas.frame()


# ------------------------------------------------------------------ render


def _check(plan: CopyPlan) -> None:
    for name in ("start", "end"):
        value: datetime = getattr(plan, name)
        if value.tzinfo is None:
            raise CopyError(f"plan.{name} must be an aware datetime (UTC)")
    if plan.end <= plan.start:
        raise CopyError("plan.end must be after plan.start")
    if plan.width < 64 or plan.height < 64 or plan.width % 2 or plan.height % 2:
        raise CopyError("plan.width and plan.height must be even and at least 64")
    if not 1 <= plan.fps <= 60:
        raise CopyError("plan.fps must be 1..60")
    for gap in plan.gaps:
        if gap.where not in ("main", "pip"):
            raise CopyError(f"gap.where must be 'main' or 'pip', not {gap.where!r}")


def _gap_label(plan: CopyPlan, where: str, t: float) -> str:
    for gap in plan.gaps:
        if gap.where == where and gap.start.timestamp() <= t < gap.end.timestamp():
            return gap.label
    return NO_PICTURE


class _Throttle:
    def __init__(self, progress: Callable[[float], None] | None) -> None:
        self._progress = progress
        self._last = float("-inf")

    def __call__(self, fraction: float, force: bool = False) -> None:
        if self._progress is None:
            return
        now = time.monotonic()
        if force or now - self._last >= PROGRESS_INTERVAL:
            self._last = now
            self._progress(min(1.0, max(0.0, fraction)))


def mix(parts: list[npt.NDArray[np.float32] | None], n: int) -> npt.NDArray[np.float32]:
    """Both sides summed; a tick whose sum would clip is scaled down as a whole, which keeps
    the waveform (hard clipping would add distortion)."""
    present = [p for p in parts if p is not None]
    if not present:
        return np.zeros((2, n), dtype=np.float32)
    mixed = present[0] if len(present) == 1 else np.add(present[0], present[1])
    for p in present[2:]:
        mixed = mixed + p
    peak = float(np.abs(mixed).max(initial=0.0))
    if peak > 1.0:
        mixed = mixed / peak
    return mixed.astype(np.float32, copy=False)


def render_copy(
    plan: CopyPlan,
    out: Path,
    progress: Callable[[float], None] | None = None,
    cancel: threading.Event | None = None,
) -> CopyResult:
    """Blocking: run it in a thread. Writes `out` crash-safely (`out.part`, fsync, rename,
    fsync dir), calls progress(fraction 0..1) at most a few times per second, stops with
    CopyError when cancel is set.

    progress is called on the rendering thread: an asyncio caller hands it to its loop
    with loop.call_soon_threadsafe."""
    _check(plan)
    start, end = plan.start.timestamp(), plan.end.timestamp()
    part = out.with_name(out.name + ".part")
    main = Picture(plan.main, start, end, plan.fps)
    pip = Picture(plan.pip, start, end, plan.fps)
    sounds: list[Sound] = []
    try:
        if not main.any and not pip.any:
            raise CopyError("no decodable picture in the session's recordings")
        if _has_audio(plan.main + plan.pip):
            sounds = [Sound(plan.main, start, end), Sound(plan.pip, start, end)]
        frames = _render(plan, part, main, pip, sounds, _Throttle(progress), cancel)
        fd = os.open(part, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(part, out)
        fsync_dir(out.parent)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            part.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise CopyError(f"cannot write {out.name}: {exc.strerror or exc}") from exc
        if isinstance(exc, av.error.FFmpegError):
            raise CopyError(f"encoding failed: {exc}") from exc
        raise
    finally:
        main.close()
        pip.close()
        for s in sounds:
            s.close()
    return _result(out, frames, plan.fps)


def _render(
    plan: CopyPlan,
    part: Path,
    main: Picture,
    pip: Picture,
    sounds: list[Sound],
    progress: _Throttle,
    cancel: threading.Event | None,
) -> int:
    start = plan.start.timestamp()
    total = max(1, round((plan.end.timestamp() - start) * plan.fps))
    text = TextRenderer()
    compositor = Compositor(plan, text)
    container = av.open(str(part), "w", format="mp4", options={"movflags": "+faststart"})
    try:
        video = container.add_stream("libx264", rate=plan.fps)
        video.width, video.height = plan.width, plan.height
        video.pix_fmt = "yuv420p"
        video.time_base = Fraction(1, plan.fps)
        video.codec_context.thread_count = THREADS
        video.codec_context.options = {
            "preset": X264_PRESET,
            "crf": X264_CRF,
            "x264-params": X264_PARAMS,
        }
        audio = None
        if sounds:
            audio = container.add_stream("aac", rate=AUDIO_RATE, layout="stereo")
            audio.bit_rate = AUDIO_BITRATE
            audio.time_base = Fraction(1, AUDIO_RATE)
            audio.codec_context.thread_count = THREADS
        pending: list[npt.NDArray[np.float32]] = []
        pending_n = 0
        audio_pts = 0
        progress(0.0, force=True)
        for k in range(total):
            if cancel is not None and cancel.is_set():
                raise CopyError("cancelled")
            t = start + k / plan.fps
            m, p = main.at(t), pip.at(t)
            frame = compositor.compose(
                t,
                m,
                _slate_label(plan, main, "main", t),
                p,
                _slate_label(plan, pip, "pip", t),
            )
            frame.pts = k
            container.mux(video.encode(frame))
            if audio is not None:
                n0 = k * AUDIO_RATE // plan.fps
                n1 = (k + 1) * AUDIO_RATE // plan.fps
                pending.append(mix([s.take(n0, n1) for s in sounds], n1 - n0))
                pending_n += n1 - n0
                while pending_n >= AAC_FRAME or (k == total - 1 and pending_n > 0):
                    block = np.concatenate(pending, axis=1)
                    take = min(AAC_FRAME, block.shape[1])
                    chunk = np.zeros((2, AAC_FRAME), dtype=np.float32)
                    chunk[:, :take] = block[:, :take]
                    pending = [block[:, take:]] if take < block.shape[1] else []
                    pending_n -= take
                    aframe = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="stereo")
                    aframe.sample_rate = AUDIO_RATE
                    aframe.pts = audio_pts
                    audio_pts += AAC_FRAME
                    container.mux(audio.encode(aframe))
            progress((k + 1) / total)
        container.mux(video.encode(None))
        if audio is not None:
            container.mux(audio.encode(None))
    except BaseException:
        # Gone before the muxer closes: its faststart pass (which rewrites the whole file
        # to put the index first) then finds nothing to do, instead of copying gigabytes
        # of a copy that was cancelled or failed.
        with contextlib.suppress(OSError):
            part.unlink(missing_ok=True)
        with contextlib.suppress(Exception):
            container.close()
        raise
    container.close()
    progress(1.0, force=True)
    return total


def _slate_label(plan: CopyPlan, picture: Picture, where: str, t: float) -> str:
    name = picture.unreadable_at(t)
    if name is not None:
        return UNREADABLE.format(file=name)
    return _gap_label(plan, where, t)


def _result(out: Path, frames: int, fps: int) -> CopyResult:
    digest = hashlib.sha256()
    try:
        with out.open("rb") as f:
            while chunk := f.read(1 << 20):
                digest.update(chunk)
        size = out.stat().st_size
    except OSError as exc:
        raise CopyError(f"cannot read {out.name} back: {exc.strerror or exc}") from exc
    duration = frames / fps
    with contextlib.suppress(av.error.FFmpegError, OSError), _open(out) as container:
        duration = (container.duration or 0) / 1_000_000 or duration
    return CopyResult(out, digest.hexdigest(), size, duration, frames)


def utc(wall: float) -> datetime:
    """A Unix time as an aware UTC datetime (for plans built from manifests)."""
    return datetime.fromtimestamp(wall, UTC)
