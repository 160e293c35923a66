"""The evidence copy, rendered from real recordings and checked the way a user would:
ffprobe and ffmpeg on the file, pictures compared with frames of the originals, the
slates where the originals have nothing, both sides heard."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from recorder import CopyError, CopyGap, CopyPlan, CopyResult, render_copy
from recorder import manifest as mf
from recorder.evidence_copy import (
    GREY_Y,
    NO_PICTURE,
    UNREADABLE,
    Compositor,
    Rect,
    TextRenderer,
    fit,
    fonts,
    frame_planes,
    layout,
    mix,
)

from .peers import encode_vp8
from .recordings import make_recording

W, H, FPS = 640, 360, 25
GAP_LABEL = "录制中断 Interrupted · publisher-disconnect · 13:00:03-13:00:05"


def bars(i: int) -> np.ndarray:
    """The prosecutor's picture: magenta with a white band moving 4 px a frame (so a
    frame from the wrong moment shows)."""
    img = np.zeros((240, 320, 3), np.uint8)
    img[...] = (200, 40, 160)
    x = (i * 4) % 300
    img[:, x : x + 20] = 255
    return img


@dataclass
class Session:
    t0: float  # wall clock where the recordings start
    room: Path  # VP8 + Opus 440 Hz, 8 s
    city: Path  # VP8 bars + Opus 1000 Hz, 8 s of media with a 2 s disconnect after 3 s
    h264: Path  # H.264 in MP4, no audio, 6 s
    gap: tuple[datetime, datetime]  # the city's disconnect

    def plan(self, **changes: object) -> CopyPlan:
        # The span starts 1 s before any recording: the copy shows "no picture" there.
        start = utc(self.t0 - 1)
        values: dict[str, object] = {
            "main": [self.room],
            "pip": [self.city],
            "start": start,
            "end": utc(self.t0 + 8),
            "caption": "案号 甲检2026-7 · 李某讯问",
            "gaps": (CopyGap(*self.gap, "pip", GAP_LABEL),),
            "width": W,
            "height": H,
            "fps": FPS,
        }
        values.update(changes)
        return CopyPlan(**values)  # type: ignore[arg-type]


def utc(wall: float) -> datetime:
    return datetime.fromtimestamp(wall, UTC)


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Session:
    data_dir = tmp_path_factory.mktemp("copy") / "var"
    t0 = round(time.time()) - 120.0

    async def make() -> Session:
        room = await make_recording(data_dir, 8, stream="room", start=t0, tone=440)
        city = await make_recording(
            data_dir,
            8,
            stream="room-city",
            start=t0,
            tone=1000,
            pause=(3, 2),
            video=encode_vp8(240, picture=bars),
        )
        h264 = await make_recording(data_dir, 6, stream="h264", start=t0, codec="h264")
        (gap,) = [c for c in mf.load(city).continuity if c.kind == "publisher-disconnect"]
        assert gap.end is not None
        span = (datetime.fromisoformat(gap.start), datetime.fromisoformat(gap.end))
        return Session(t0, room, city, h264, span)

    # A loop of its own, in a thread: the test's event loop is none of its business.
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, make()).result()


@dataclass
class Rendered:
    result: CopyResult
    progress: list[float]
    seconds: float


@pytest.fixture(scope="module")
def rendered(session: Session, tmp_path_factory: pytest.TempPathFactory) -> Rendered:
    out = tmp_path_factory.mktemp("out") / "copy.mp4"
    progress: list[float] = []
    began = time.monotonic()
    result = render_copy(session.plan(), out, progress=progress.append)
    return Rendered(result, progress, time.monotonic() - began)


# ------------------------------------------------------------------ helpers


def probe(path: Path, entries: str) -> str:
    return subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", entries, "-of", "csv=p=0", str(path)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def output_frames(path: Path) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    with av.open(str(path)) as c:
        return [frame_planes(f) for f in c.decode(video=0)]


def original_frames(directory: Path) -> Iterator[tuple[float, av.VideoFrame]]:
    """(wall clock, frame) of every frame of a recording: segment start + pts."""
    for seg in mf.load(directory).segments:
        start = datetime.fromisoformat(seg.start).timestamp()
        with av.open(str(directory / seg.file)) as c:
            stream = c.streams.video[0]
            for frame in c.decode(stream):
                assert frame.pts is not None and stream.time_base is not None
                yield start + float(frame.pts * stream.time_base), frame


def original_at(directory: Path, wall: float) -> np.ndarray:
    """The original's luma at a wall-clock moment (its latest frame by then)."""
    found = None
    for t, frame in original_frames(directory):
        if t > wall + 0.5 / FPS:
            break
        found = frame
    assert found is not None, f"no frame of {directory.name} by {wall}"
    return frame_planes(found)[0].copy()


def expected(luma: np.ndarray, box: Rect) -> tuple[Rect, np.ndarray]:
    """The original scaled into the box as the copy does it."""
    rect = fit(luma.shape[1], luma.shape[0], box)
    interp = cv2.INTER_AREA if rect.w < luma.shape[1] else cv2.INTER_LINEAR
    return rect, cv2.resize(luma, (rect.w, rect.h), interpolation=interp)


def region(planes: tuple[np.ndarray, ...], rect: Rect) -> np.ndarray:
    return planes[0][rect.y : rect.y + rect.h, rect.x : rect.x + rect.w].astype(np.int16)


def chroma(planes: tuple[np.ndarray, ...], rect: Rect) -> float:
    """Mean distance of the region's colour from grey (0 on a slate)."""
    cy, cx, ch, cw = rect.y // 2, rect.x // 2, rect.h // 2, rect.w // 2
    u = planes[1][cy : cy + ch, cx : cx + cw].astype(np.int16) - 128
    v = planes[2][cy : cy + ch, cx : cx + cw].astype(np.int16) - 128
    return float(np.abs(u).mean() + np.abs(v).mean())


def is_slate(planes: tuple[np.ndarray, ...], rect: Rect) -> bool:
    """A slate: grey, colourless, with some text on it."""
    y = region(planes, rect)
    return (
        chroma(planes, rect) < 2
        and float(np.median(y)) == pytest.approx(GREY_Y, abs=3)
        and int((y > 150).sum()) > 20
    )


def main_area(width: int, height: int) -> Rect:
    """The main picture clear of the bar (top) and the PiP (bottom right): its top-left."""
    lay = layout(width, height)
    return Rect(0, lay.bar.h, lay.pip.x - lay.border, lay.pip.y - lay.border - lay.bar.h)


def frame_at(session: Session, seconds: float) -> int:
    """Index of the copy's frame at t0 + seconds (the copy starts 1 s before t0)."""
    return round((seconds + 1) * FPS)


# ------------------------------------------------------------------ tests


def test_the_copy_covers_the_session_and_decodes_cleanly(
    session: Session, rendered: Rendered
) -> None:
    out = rendered.result.path
    assert float(probe(out, "format=duration")) == pytest.approx(9.0, abs=1.0)
    assert rendered.result.duration == pytest.approx(9.0, abs=1.0)
    assert rendered.result.frames == 9 * FPS
    decode = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(out), "-f", "null", "-"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert decode.returncode == 0 and decode.stderr == ""
    streams = probe(out, "stream=codec_name,pix_fmt,width,height").splitlines()
    assert streams[0] == f"h264,{W},{H},yuv420p"
    assert streams[1].startswith("aac")
    import hashlib

    assert rendered.result.sha256 == hashlib.sha256(out.read_bytes()).hexdigest()
    assert rendered.result.bytes == out.stat().st_size
    assert not out.with_name(out.name + ".part").exists()


def test_each_picture_shows_its_own_original_at_that_moment(
    session: Session, rendered: Rendered
) -> None:
    frames = output_frames(rendered.result.path)
    lay = layout(W, H)
    for seconds in (1.5, 2.4, 6.5):
        got = frames[frame_at(session, seconds)]
        wall = session.t0 + seconds
        # The prosecutor in the PiP box.
        rect, want = expected(original_at(session.city, wall), lay.pip)
        diff = np.abs(region(got, rect) - want).mean()
        assert diff < 8, f"PiP at {seconds} s differs from the prosecutor's frame by {diff:.1f}"
        _, wrong = expected(original_at(session.city, wall - 0.5), lay.pip)
        assert np.abs(region(got, rect) - wrong).mean() > 3 * diff, "PiP from the wrong moment"
        # The room in the main picture, clear of the bar and the PiP.
        rect, want = expected(original_at(session.room, wall), lay.main)
        area = main_area(W, H)
        clip = Rect(max(rect.x, area.x), area.y, area.x + area.w - max(rect.x, area.x), area.h)
        want = want[clip.y - rect.y : clip.y - rect.y + clip.h, clip.x - rect.x : clip.w]
        diff = np.abs(region(got, clip) - want).mean()
        assert diff < 10, f"main picture at {seconds} s differs from the room's by {diff:.1f}"


def test_the_mp4_original_is_read_too_and_without_audio_the_copy_is_video_only(
    session: Session, tmp_path: Path
) -> None:
    out = tmp_path / "copy.mp4"
    plan = session.plan(main=[session.h264], pip=[], gaps=(), end=utc(session.t0 + 6))
    render_copy(plan, out)
    assert probe(out, "stream=codec_type") == "video"
    got = output_frames(out)[frame_at(session, 3.3)]
    rect, want = expected(original_at(session.h264, session.t0 + 3.3), layout(W, H).main)
    area = main_area(W, H)
    clip = Rect(max(rect.x, area.x), area.y, area.x + area.w - max(rect.x, area.x), area.h)
    want = want[clip.y - rect.y : clip.y - rect.y + clip.h, clip.x - rect.x : clip.w]
    assert np.abs(region(got, clip) - want).mean() < 10
    # No prosecutor recording at all: the PiP box says so, it is never a frozen picture.
    assert is_slate(got, layout(W, H).pip)


def test_the_gap_shows_its_slate_in_its_span_and_nowhere_else(
    session: Session, rendered: Rendered
) -> None:
    frames = output_frames(rendered.result.path)
    pip = layout(W, H).pip
    gap_start = session.gap[0].timestamp() - session.t0
    gap_end = session.gap[1].timestamp() - session.t0
    for k, planes in enumerate(frames):
        seconds = k / FPS - 1
        if gap_start + 0.1 < seconds < gap_end - 0.1:
            assert is_slate(planes, pip), f"no slate in the PiP at {seconds:.2f} s (in the gap)"
        elif 0.1 < seconds < gap_start - 0.1 or seconds > gap_end + 0.1:
            assert chroma(planes, pip) > 20, f"PiP at {seconds:.2f} s is not the prosecutor"
            assert not is_slate(planes, pip)
    # Before any recording, the main picture says there is none (never a frozen frame).
    area = main_area(W, H)
    assert is_slate(frames[frame_at(session, -0.5)], area)
    assert not is_slate(frames[frame_at(session, 0.5)], area)


def test_both_sides_are_heard_and_each_only_when_it_was_recorded(
    session: Session, rendered: Rendered
) -> None:
    with av.open(str(rendered.result.path)) as c:
        stream = c.streams.audio[0]
        rate = stream.rate
        samples = np.concatenate(
            [f.to_ndarray().reshape(f.layout.nb_channels, -1)[0] for f in c.decode(stream)]
        )

    def tone_levels(seconds: float) -> tuple[float, float]:
        at = int((seconds + 1) * rate)
        window = samples[at : at + rate // 2] * np.hanning(rate // 2)
        spectrum = np.abs(np.fft.rfft(window))
        freqs = np.fft.rfftfreq(len(window), 1 / rate)

        def level(hz: float) -> float:
            return float(spectrum[(freqs > hz - 20) & (freqs < hz + 20)].max())

        return level(440), level(1000)

    room, city = tone_levels(1.5)
    assert room > 100 and city > 100, (room, city)
    gap_mid = (session.gap[0].timestamp() + session.gap[1].timestamp()) / 2 - session.t0
    room_in_gap, city_in_gap = tone_levels(gap_mid - 0.25)
    assert room_in_gap > 100 and city_in_gap < room_in_gap / 20
    assert float(np.abs(samples).max()) <= 1.0


def test_progress_is_reported_a_few_times_a_second_up_to_one(rendered: Rendered) -> None:
    progress = rendered.progress
    assert progress[0] == 0.0 and progress[-1] == 1.0
    assert progress == sorted(progress)
    assert len(progress) <= rendered.seconds / 0.25 + 3


def test_cancel_stops_with_copy_error_and_leaves_no_file(session: Session, tmp_path: Path) -> None:
    out = tmp_path / "copy.mp4"
    cancel = threading.Event()

    def progress(fraction: float) -> None:
        if fraction > 0:
            cancel.set()

    with pytest.raises(CopyError, match="cancelled"):
        render_copy(session.plan(), out, progress=progress, cancel=cancel)
    assert list(tmp_path.iterdir()) == []


def test_an_unreadable_segment_shows_as_a_slate_naming_it(session: Session, tmp_path: Path) -> None:
    room = tmp_path / session.room.name
    shutil.copytree(session.room, room)
    segment = mf.load(room).segments[1]
    (room / segment.file).write_bytes(b"\x1a\x45\xdf\xa3 not a webm at all" * 100)
    out = tmp_path / "copy.mp4"
    render_copy(session.plan(main=[room]), out)
    frames = output_frames(out)
    begin = datetime.fromisoformat(segment.start).timestamp() - session.t0
    end = datetime.fromisoformat(segment.end).timestamp() - session.t0
    area = main_area(W, H)
    middle = frames[frame_at(session, (begin + end) / 2)]
    assert is_slate(middle, area)
    assert not is_slate(frames[frame_at(session, begin - 0.3)], area)
    assert not is_slate(frames[frame_at(session, end + 0.3)], area)
    # The slate names the segment: it is the one drawn for that label, not "no picture".
    compositor = Compositor(session.plan(), TextRenderer())

    def slate(label: str) -> np.ndarray:
        frame = compositor.compose(session.t0, None, label, None, NO_PICTURE)
        return region(frame_planes(frame), area)

    got = region(middle, area)
    named = np.abs(got - slate(UNREADABLE.format(file=segment.file))).mean()
    assert named < 2 and named * 3 < np.abs(got - slate(NO_PICTURE)).mean()


def test_nothing_decodable_is_a_copy_error_and_no_file(session: Session, tmp_path: Path) -> None:
    room = tmp_path / "room"
    shutil.copytree(session.room, room)
    for segment in mf.load(room).segments:
        (room / segment.file).write_bytes(b"garbage")
    out = tmp_path / "out" / "copy.mp4"
    out.parent.mkdir()
    with pytest.raises(CopyError, match="no decodable picture"):
        render_copy(session.plan(main=[room], pip=[]), out)
    assert list(out.parent.iterdir()) == []


def test_a_disk_error_is_a_copy_error(session: Session, tmp_path: Path) -> None:
    with pytest.raises(CopyError, match="cannot write"):
        render_copy(session.plan(), tmp_path / "missing" / "copy.mp4")


def test_a_bad_plan_is_refused_with_its_reason(session: Session, tmp_path: Path) -> None:
    out = tmp_path / "copy.mp4"
    with pytest.raises(CopyError, match="after"):
        render_copy(session.plan(end=utc(session.t0 - 2)), out)
    with pytest.raises(CopyError, match="aware"):
        render_copy(session.plan(start=datetime(2026, 1, 1)), out)
    late = session.plan().end + timedelta(seconds=1)
    bad_gap = CopyGap(late, late, "side", "x")
    with pytest.raises(CopyError, match="where"):
        render_copy(session.plan(gaps=(bad_gap,)), out)
    assert not out.exists()


def test_the_clock_is_the_recordings_wall_clock_in_beijing_time(
    session: Session, rendered: Rendered
) -> None:
    frames = output_frames(rendered.result.path)
    plan = session.plan()
    bar = layout(W, H).bar
    compositor = Compositor(plan, TextRenderer())
    clock = Rect(0, 0, bar.w // 2, bar.h)  # the clock's half of the bar
    for seconds in (0.5, 4.5):
        wall = session.t0 + seconds
        got = region(frames[frame_at(session, seconds)], clock)
        right = compositor.bar(wall)[: clock.h, : clock.w].astype(np.int16)
        assert np.abs(got - right).mean() < 4
        # Not another second's time, nor the UTC time: where the texts differ, the copy
        # shows this one.
        for other in (wall + 1, wall - 8 * 3600):
            wrong = compositor.bar(other)[: clock.h, : clock.w].astype(np.int16)
            differ = np.abs(right - wrong) > 96
            assert differ.sum() > 10
            near = np.abs(got - right)[differ].mean()
            far = np.abs(got - wrong)[differ].mean()
            assert near * 3 < far, (seconds, other - wall, near, far)


def test_mixing_never_clips_and_keeps_the_waveform() -> None:
    t = np.arange(1920) / 48000
    loud = np.stack([np.sin(2 * np.pi * 440 * t)] * 2).astype(np.float32) * 0.8
    mixed = mix([loud, loud.copy()], 1920)
    assert float(np.abs(mixed).max()) == pytest.approx(1.0)
    assert np.allclose(mixed, loud / 0.8, atol=1e-6)  # scaled, not flattened
    quiet = loud * 0.25
    assert np.allclose(mix([quiet, None], 1920), quiet)
    assert not mix([None, None], 1920).any()


def test_text_is_drawn_whatever_fonts_the_machine_has(tmp_path: Path) -> None:
    caption = "案号 甲检2026-7 · 李某讯问"
    latin, cjk = fonts()
    broken = tmp_path / "broken.ttf"
    broken.write_bytes(b"not a font")
    renderers = {
        "the machine's fonts": TextRenderer(),
        "no font at all (OpenCV's own, ASCII only)": TextRenderer((None, None)),
        "a broken font file": TextRenderer((str(broken), str(broken))),
        "Latin only": TextRenderer((latin, None)),
    }
    for what, renderer in renderers.items():
        mask = renderer.mask(caption, 24)
        assert mask.dtype == np.uint8 and mask.ndim == 2, what
        assert int((mask > 128).sum()) > 50, f"nothing drawn with {what}"
    if cjk is not None:  # Chinese drawn: wider than the same text without it
        with_cjk = renderers["the machine's fonts"].mask(caption, 24).shape[1]
        assert with_cjk > renderers["Latin only"].mask(caption, 24).shape[1]
