"""Test peers on aiortc: a publisher of pre-encoded video, and WHEP viewers that keep
the encoded frames they reassemble (to prove the gateway never transcodes)."""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import time
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urljoin

import aiohttp
import av
import numpy as np
from aiortc import (
    MediaStreamTrack,
    RTCConfiguration,
    RTCPeerConnection,
    RTCRtpSender,
    RTCRtpTransceiver,
    RTCSessionDescription,
)

from .waiting import wait_for

VIDEO_CLOCK = 90000


def encode_vp8(
    count: int,
    width: int = 320,
    height: int = 240,
    gop: int = 30,
    picture: Callable[[int], np.ndarray] | None = None,
) -> list[bytes]:
    """`count` VP8 frames of a moving pattern (or `picture(i)`: frame i as an RGB array),
    a keyframe every `gop` frames."""
    codec = av.CodecContext.create("libvpx", "w")
    codec.width, codec.height = width, height
    codec.pix_fmt = "yuv420p"
    codec.time_base = fractions.Fraction(1, 30)
    codec.gop_size = gop
    codec.bit_rate = 600_000
    codec.options = {"deadline": "realtime", "cpu-used": "8", "lag-in-frames": "0"}
    frames: list[bytes] = []
    y = np.arange(height)[:, None]
    x = np.arange(width)[None, :]
    for i in range(count):
        if picture is not None:
            img = picture(i)
        else:
            img = np.zeros((height, width, 3), dtype=np.uint8)
            img[..., 0] = (x + 4 * i) % 256
            img[..., 1] = (y + 2 * i) % 256
            img[..., 2] = ((x ^ y) + i) % 256
        frame = av.VideoFrame.from_ndarray(img, format="rgb24").reformat(format="yuv420p")
        frame.pts = i
        for pkt in codec.encode(frame):
            frames.append(bytes(pkt))
    for pkt in codec.encode(None):
        frames.append(bytes(pkt))
    return frames


def encode_opus(seconds: float, tone: float, level: float = 0.3) -> list[bytes]:
    """Opus packets (20 ms each, 48 kHz stereo) of a sine at `tone` Hz."""
    codec = av.CodecContext.create("libopus", "w")
    codec.sample_rate = 48000
    codec.layout = "stereo"
    codec.format = "s16"
    codec.bit_rate = 64000
    codec.time_base = fractions.Fraction(1, 48000)
    n = 960
    packets: list[bytes] = []
    for i in range(int(seconds * 50)):
        t = (np.arange(n) + i * n) / 48000
        wave = (np.sin(2 * np.pi * tone * t) * level * 32767).astype(np.int16)
        frame = av.AudioFrame.from_ndarray(
            np.repeat(wave[None, :], 2, axis=0).reshape(1, -1, order="F"),
            format="s16",
            layout="stereo",
        )
        frame.sample_rate = 48000
        frame.pts = i * n
        packets += [bytes(pkt) for pkt in codec.encode(frame)]
    packets += [bytes(pkt) for pkt in codec.encode(None)]
    return packets


def encode_h264(
    count: int, width: int = 320, height: int = 240, gop: int = 30, slices: int = 2
) -> list[bytes]:
    """`count` H.264 frames (constrained baseline, Annex B with SPS/PPS before every IDR),
    each picture in `slices` slices."""
    codec = av.CodecContext.create("libx264", "w")
    codec.width, codec.height = width, height
    codec.pix_fmt = "yuv420p"
    codec.time_base = fractions.Fraction(1, 30)
    codec.framerate = fractions.Fraction(30, 1)
    codec.gop_size = gop
    codec.bit_rate = 600_000
    codec.profile = "Constrained Baseline"
    codec.thread_count = 1  # otherwise x264's sliced threads decide the slice count
    codec.options = {
        "preset": "ultrafast",
        "tune": "zerolatency",
        "x264-params": (
            f"keyint={gop}:min-keyint={gop}:scenecut=0:annexb=1:repeat-headers=1:slices={slices}"
        ),
    }
    frames: list[bytes] = []
    for i, frame in enumerate(_pattern(count, width, height)):
        frame.pts = i
        frames += [bytes(pkt) for pkt in codec.encode(frame)]
    frames += [bytes(pkt) for pkt in codec.encode(None)]
    return frames


def _pattern(count: int, width: int, height: int) -> list[av.VideoFrame]:
    y = np.arange(height)[:, None]
    x = np.arange(width)[None, :]
    out = []
    for i in range(count):
        img = np.zeros((height, width, 3), dtype=np.uint8)
        img[..., 0] = (x + 4 * i) % 256
        img[..., 1] = (y + 2 * i) % 256
        img[..., 2] = ((x ^ y) + i) % 256
        out.append(av.VideoFrame.from_ndarray(img, format="rgb24").reformat(format="yuv420p"))
    return out


def prefer_codecs(transceiver: RTCRtpTransceiver, mimes: Sequence[str]) -> None:
    """Offer only these codecs (and their RTX) on this transceiver, in this order."""
    caps = RTCRtpSender.getCapabilities(transceiver.kind).codecs
    wanted = [c for m in mimes for c in caps if c.mimeType.lower() == m.lower()]
    if not wanted:
        raise ValueError(f"aiortc offers none of {mimes}")
    rtx = [c for c in caps if c.mimeType.lower() == "video/rtx"]
    transceiver.setCodecPreferences(wanted + rtx)


class EncodedVideoTrack(MediaStreamTrack):
    """Sends given encoded frames as they are (aiortc packetizes, never encodes)."""

    kind = "video"

    def __init__(self, frames: list[bytes], fps: float = 30.0, loop: bool = True) -> None:
        super().__init__()
        self.frames = frames
        self.fps = fps
        self.loop = loop
        self.sent: list[bytes] = []
        self._index = 0
        self._start: float | None = None

    async def recv(self) -> av.Packet:
        if self._start is None:
            self._start = time.monotonic()
        if self._index >= len(self.frames) and not self.loop:
            await asyncio.sleep(3600)
        target = self._start + self._index / self.fps
        await asyncio.sleep(max(0.0, target - time.monotonic()))
        data = self.frames[self._index % len(self.frames)]
        pkt = av.Packet(data)
        pkt.pts = round(self._index * VIDEO_CLOCK / self.fps)
        pkt.time_base = fractions.Fraction(1, VIDEO_CLOCK)
        self._index += 1
        self.sent.append(data)
        return pkt


class _RecordingQueue:
    """Stands in for aiortc's decoder queue: keeps each reassembled encoded frame."""

    def __init__(self, inner: Any, frames: list[bytes], times: list[float]) -> None:
        self._inner = inner
        self._frames = frames
        self._times = times

    def put(self, item: Any) -> None:
        if item is not None:
            self._frames.append(bytes(item[1].data))
            self._times.append(time.monotonic())
        self._inner.put(item)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


async def whip_or_whep(url: str, token: str | None, sdp: str) -> tuple[int, str, str | None]:
    headers = {"Content-Type": "application/sdp"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    async with aiohttp.ClientSession() as http, http.post(url, data=sdp, headers=headers) as r:
        location = r.headers.get("Location")
        return r.status, await r.text(), urljoin(url, location) if location else None


class Viewer:
    """A WHEP viewer on aiortc; records encoded video frames and decodes them too."""

    def __init__(
        self,
        url: str,
        token: str,
        audio: bool = False,
        video_codecs: Sequence[str] | None = None,
    ) -> None:
        self.url = url
        self.token = token
        self.audio = audio
        self.video_codecs = video_codecs
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.frames: list[bytes] = []
        self.frame_times: list[float] = []
        self.decoded = 0
        self.audio_frames = 0
        self.started_at = 0.0
        self.resource: str | None = None
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        self.started_at = time.monotonic()
        video = self.pc.addTransceiver("video", direction="recvonly")
        if self.video_codecs is not None:
            prefer_codecs(video, self.video_codecs)
        if self.audio:
            self.pc.addTransceiver("audio", direction="recvonly")
        receiver = video.receiver
        name = "_RTCRtpReceiver__decoder_queue"
        setattr(
            receiver, name, _RecordingQueue(getattr(receiver, name), self.frames, self.frame_times)
        )

        @self.pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            if track.kind == "video":
                self._tasks.append(asyncio.ensure_future(self._drain(track)))
            else:
                self._tasks.append(asyncio.ensure_future(self._drain_audio(track)))

        await self.pc.setLocalDescription(await self.pc.createOffer())
        status, body, location = await whip_or_whep(
            self.url, self.token, self.pc.localDescription.sdp
        )
        if status != 201:
            raise AssertionError(f"WHEP answered {status}: {body}")
        self.resource = location
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=body, type="answer"))

    async def _drain(self, track: MediaStreamTrack) -> None:
        with contextlib.suppress(Exception):
            while True:
                await track.recv()
                self.decoded += 1

    async def _drain_audio(self, track: MediaStreamTrack) -> None:
        with contextlib.suppress(Exception):
            while True:
                await track.recv()
                self.audio_frames += 1

    async def wait_frames(self, count: int, timeout: float = 10.0) -> None:
        await wait_for(
            lambda: len(self.frames),
            lambda n: n >= count,
            what=f"{count} frames received",
            timeout=timeout,
        )

    async def close(self) -> None:
        for t in self._tasks:
            t.cancel()
        await self.pc.close()
