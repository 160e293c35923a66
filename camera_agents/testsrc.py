"""Synthetic station source: 1280x720 moving pattern with burned-in wall clock and
station name, plus a tone. Frames are drawn in a worker thread, never on the loop.

As a station camera (PatternSource) the pattern is drawn and encoded to H.264 (and the
tone to Opus) in the camera's own thread, so it is published, spooled and back-filled
like any other camera; the tracks (PatternTrack, ToneTrack) hand aiortc raw pictures
for the single test stream and the tests."""

from __future__ import annotations

import asyncio
import fractions
import math
import time
from datetime import datetime

import av
import cv2
import numpy as np
from aiortc import MediaStreamTrack

from .encoder import CODECS, make_encoder
from .opus import OpusEncoder
from .source import CameraSource, Media, SourceStatus, SubscriptionTrack

VIDEO_CLOCK = 90000
AUDIO_RATE = 48000


class _Pacer:
    """Wall-clock pacing so a slow draw does not drift the timestamps."""

    def __init__(self, rate: float) -> None:
        self.period = 1.0 / rate
        self.start: float | None = None
        self.count = 0

    async def next(self) -> int:
        now = time.monotonic()
        if self.start is None:
            self.start = now
        target = self.start + self.count * self.period
        if target > now:
            await asyncio.sleep(target - now)
        index = self.count
        self.count += 1
        return index


class PatternRenderer:
    """Draws frames: a scrolling colour pattern, the station name and the time.

    `period`: draw a loop of that many pictures instead (camera_agents/loop_source.py):
    the pattern and the box move once round in it, and no clock or picture count (they
    would jump back each pass)."""

    def __init__(
        self, station: str, width: int = 1280, height: int = 720, period: int | None = None
    ) -> None:
        self.station = station
        self.width, self.height = width, height
        self.period = period
        x = np.linspace(0, 4 * math.pi, 2 * width, dtype=np.float32)
        y = np.linspace(0, 2 * math.pi, height, dtype=np.float32)[:, None]
        base = np.empty((height, 2 * width, 3), dtype=np.uint8)
        base[..., 0] = (127 + 120 * np.sin(x + y)).astype(np.uint8)
        base[..., 1] = (127 + 120 * np.sin(x * 0.5 + 2.0)).astype(np.uint8)
        base[..., 2] = (127 + 120 * np.cos(y * 2 + x * 0.25)).astype(np.uint8)
        self._base = base

    def render(self, index: int) -> np.ndarray:
        """One BGR frame; `index` moves the pattern. Laid out for 720p, scaled to the height."""
        w, h = self.width, self.height
        k = h / 720

        def px(v: float) -> int:
            return max(1, round(v * k))

        if self.period is None:
            offset = (index * 8) % w
            phase = index / 30
        else:
            index %= self.period
            offset = index * w // self.period
            phase = 2 * math.pi * index / self.period
        img = np.ascontiguousarray(self._base[:, offset : offset + w])
        box = px(120)
        cx = int((w - box) * (0.5 + 0.5 * math.sin(phase)))
        cv2.rectangle(img, (cx, h - px(160)), (cx + box, h - px(40)), (255, 255, 255), -1)
        cv2.rectangle(img, (0, 0), (w, px(110)), (0, 0, 0), -1)
        font = cv2.FONT_HERSHEY_SIMPLEX
        cv2.putText(img, self.station, (px(24), px(48)), font, 1.3 * k, (255, 255, 255), px(3))
        if self.period is None:
            clock = datetime.now().strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
            cv2.putText(img, clock, (px(24), px(96)), font, 1.2 * k, (0, 255, 255), px(3))
            cv2.putText(
                img, f"#{index}", (w - px(260), px(96)), font, 1.2 * k, (200, 200, 200), px(2)
            )
        else:  # says it is not a live picture (there is no clock to tell)
            note = "synthetic test loop"
            cv2.putText(img, note, (px(24), px(96)), font, 1.0 * k, (160, 160, 160), px(2))
        return img

    def frame(self, index: int) -> av.VideoFrame:
        yuv = np.asarray(cv2.cvtColor(self.render(index), cv2.COLOR_BGR2YUV_I420), dtype=np.uint8)
        return av.VideoFrame.from_ndarray(yuv, format="yuv420p")


class PatternTrack(MediaStreamTrack):
    kind = "video"

    def __init__(
        self,
        station: str,
        fps: float = 30.0,
        width: int = 1280,
        height: int = 720,
        status: SourceStatus | None = None,
    ):
        super().__init__()
        self._renderer = PatternRenderer(station, width, height)
        self._pacer = _Pacer(fps)
        self._fps = fps
        self._status = status

    async def recv(self) -> av.VideoFrame:
        index = await self._pacer.next()
        frame = await asyncio.get_running_loop().run_in_executor(None, self._renderer.frame, index)
        frame.pts = round(index * VIDEO_CLOCK / self._fps)
        frame.time_base = fractions.Fraction(1, VIDEO_CLOCK)
        if self._status is not None:
            self._status.frames += 1
        return frame


class ToneTrack(MediaStreamTrack):
    """A 440 Hz tone with a short beep every second, 20 ms frames, 48 kHz mono."""

    kind = "audio"

    def __init__(self, frequency: float = 440.0) -> None:
        super().__init__()
        self._pacer = _Pacer(50)
        self._samples = AUDIO_RATE // 50
        self._frequency = frequency

    async def recv(self) -> av.AudioFrame:
        index = await self._pacer.next()
        return tone(index * self._samples, self._samples, self._frequency)


def tone(start: int, samples: int, frequency: float = 440.0) -> av.AudioFrame:
    """`samples` of the tone from sample `start`: a beep the first 100 ms of each second."""
    t = (np.arange(samples) + start) / AUDIO_RATE
    gain = 0.3 if (start % AUDIO_RATE) < AUDIO_RATE // 10 else 0.05
    pcm = (gain * 32767 * np.sin(2 * math.pi * frequency * t)).astype(np.int16)
    frame = av.AudioFrame.from_ndarray(pcm.reshape(1, -1), format="s16", layout="mono")
    frame.sample_rate = AUDIO_RATE
    frame.pts = start
    frame.time_base = fractions.Fraction(1, AUDIO_RATE)
    return frame


class PatternSource(CameraSource):
    """`testsrc` as a station camera: drawn, and encoded to H.264 (the tone to Opus), in
    its own thread at its frame rate, timed by picture count."""

    kind_name = "testsrc"

    def __init__(
        self,
        camera: str,
        label: str,
        audio: bool = True,
        *,
        width: int = 1280,
        height: int = 720,
        fps: int = 30,
        bitrate: int = 2_500_000,
        keyframe_seconds: float = 2.0,
        codec: str = "h264",
    ) -> None:
        super().__init__(camera)
        self.label = label
        self.audio = audio
        self.has_audio = audio
        self.width, self.height, self.fps = width, height, fps
        self.codec = CODECS[codec]
        self.encoder = make_encoder(codec, width, height, fps, bitrate, keyframe_seconds)

    def request_keyframe(self) -> None:
        self.encoder.request_keyframe()

    def tracks(self) -> list[MediaStreamTrack]:
        tracks: list[MediaStreamTrack] = [SubscriptionTrack(self, "video", self.codec)]
        if self.audio:
            tracks.append(SubscriptionTrack(self, "audio", "audio/opus", pace=True))
        return tracks

    def _run_thread(self) -> None:
        renderer = PatternRenderer(self.label, self.width, self.height)
        opus = OpusEncoder() if self.audio else None
        chunk = AUDIO_RATE // 50
        samples = 0
        start = time.monotonic()
        index = 0
        while not self._stop.is_set():
            late = time.monotonic() - (start + index / self.fps)
            if late < 0 and not self._sleep(-late):
                break
            for packet, key in self.encoder.encode(renderer.frame(index)):
                self._emit(Media("video", packet, key, packet.size))
            index += 1
            # the tone up to the next picture's time, on the same (picture count) clock
            while opus is not None and samples < index * AUDIO_RATE / self.fps:
                for out in opus.encode(tone(samples, chunk)):
                    self._emit(Media("audio", out, False, out.size))
                samples += chunk
