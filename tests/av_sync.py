"""Tracks whose picture flashes and whose sound beeps at the same instants, and the
measurement of how far apart they land in a recording."""

from __future__ import annotations

import asyncio
import fractions
import time
from pathlib import Path

import av
import numpy as np
from aiortc import MediaStreamTrack

from .peers import EncodedVideoTrack


def encode_flashes(count: int, fps: int = 30, width: int = 320, height: int = 240) -> list[bytes]:
    """VP8 frames, white on the first frame of every second, dark otherwise."""
    codec = av.CodecContext.create("libvpx", "w")
    codec.width, codec.height = width, height
    codec.pix_fmt = "yuv420p"
    codec.time_base = fractions.Fraction(1, fps)
    codec.gop_size = fps
    codec.bit_rate = 400_000
    codec.options = {"deadline": "realtime", "cpu-used": "8", "lag-in-frames": "0"}
    out: list[bytes] = []
    for i in range(count):
        level = 235 if i % fps == 0 else 16
        img = np.full((height, width, 3), level, dtype=np.uint8)
        frame = av.VideoFrame.from_ndarray(img, format="rgb24").reformat(format="yuv420p")
        frame.pts = i
        out += [bytes(p) for p in codec.encode(frame)]
    out += [bytes(p) for p in codec.encode(None)]
    return out


class Clock:
    """One start instant shared by the audio and the video track."""

    def __init__(self) -> None:
        self.t0: float | None = None

    def start(self) -> float:
        if self.t0 is None:
            self.t0 = time.monotonic()
        return self.t0


class FlashTrack(EncodedVideoTrack):
    def __init__(self, frames: list[bytes], clock: Clock) -> None:
        super().__init__(frames, loop=True)
        self._clock = clock

    async def recv(self) -> av.Packet:
        self._start = self._clock.start()
        return await super().recv()


class BeepTrack(MediaStreamTrack):
    """48 kHz mono: a 1 kHz beep during the first 40 ms of every second, silence otherwise."""

    kind = "audio"

    def __init__(self, clock: Clock) -> None:
        super().__init__()
        self._clock = clock
        self._index = 0

    async def recv(self) -> av.AudioFrame:
        t0 = self._clock.start()
        target = t0 + self._index * 0.02
        await asyncio.sleep(max(0.0, target - time.monotonic()))
        start = self._index * 960
        t = (np.arange(960) + start) / 48000
        on = ((np.arange(960) + start) % 48000) < 1920
        pcm = (on * 0.5 * 32767 * np.sin(2 * np.pi * 1000 * t)).astype(np.int16)
        frame = av.AudioFrame.from_ndarray(pcm.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = 48000
        frame.pts = start
        frame.time_base = fractions.Fraction(1, 48000)
        self._index += 1
        return frame


def flash_and_beep_times(path: Path) -> tuple[list[float], list[float]]:
    """Media times (s) of flash frames and beep onsets in a recorded file (decoded here,
    in the test: the server never decodes)."""
    flashes: list[float] = []
    beeps: list[float] = []
    with av.open(str(path)) as c:
        for frame in c.decode(video=0):
            y = frame.to_ndarray(format="gray")
            if y.mean() > 128 and frame.time is not None:
                flashes.append(frame.time)
    with av.open(str(path)) as c:
        loud = False
        for frame in c.decode(audio=0):
            raw = frame.to_ndarray()
            pcm = raw.astype(np.float64)
            if np.issubdtype(raw.dtype, np.integer):
                pcm /= 32768.0
            is_loud = float(np.sqrt(np.mean(pcm**2))) > 0.05
            if is_loud and not loud and frame.time is not None:
                beeps.append(frame.time)
            loud = is_loud
    return flashes, beeps


def av_offsets(flashes: list[float], beeps: list[float]) -> list[float]:
    """For each flash, the signed distance to the nearest beep (audio late: negative).
    Flashes outside the span the audio covers (the first and last instants) have no
    beep to pair with and are left out."""
    if not beeps:
        return []
    lo, hi = min(beeps) - 0.5, max(beeps) + 0.5
    return [min((f - b for b in beeps), key=abs) for f in flashes if lo <= f <= hi]
