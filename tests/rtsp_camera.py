"""A real IP camera for tests: Debian's GStreamer RTSP server (tests/interop/rtsp_server.py)
run by /usr/bin/python3 with gi, serving H.264 + AAC from test sources. Skipped with the
reason when something is missing, a failure under VDISPATCH_REQUIRE_INTEROP=1."""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import hashlib
import os
import socket
import subprocess
import threading
from pathlib import Path

import av

from .conftest import require_or_skip

SERVER = Path(__file__).parent / "interop" / "rtsp_server.py"
SYSTEM_PYTHON = "/usr/bin/python3"
REQUIRE = "VDISPATCH_REQUIRE_INTEROP"
ELEMENTS = ("x264enc", "rtph264pay", "avenc_aac", "rtpmp4gpay", "videotestsrc", "audiotestsrc")

_GI_CHECK = (
    "import gi; gi.require_version('Gst', '1.0'); gi.require_version('GstRtspServer', '1.0');"
    "from gi.repository import Gst, GstRtspServer; Gst.init(None); import sys;"
    f"sys.exit(0 if all(Gst.ElementFactory.find(e) for e in {ELEMENTS!r}) else 3)"
)
_problem: list[str | None] = []


def _rtsp_problem() -> str | None:
    if not os.path.exists(SYSTEM_PYTHON):
        return f"{SYSTEM_PYTHON} is missing"
    try:
        done = subprocess.run(
            [SYSTEM_PYTHON, "-c", _GI_CHECK], capture_output=True, text=True, timeout=60
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"cannot run {SYSTEM_PYTHON}: {exc}"
    if done.returncode == 3:
        return (
            f"a GStreamer element is missing ({', '.join(ELEMENTS)}: "
            "gstreamer1.0-plugins-ugly, gstreamer1.0-libav, gstreamer1.0-rtsp)"
        )
    if done.returncode != 0:
        return f"gst-rtsp-server unusable (gir1.2-gst-rtsp-server-1.0): {done.stderr[-300:]}"
    return None


def require_rtsp_server() -> None:
    if not _problem:
        _problem.append(_rtsp_problem())
    require_or_skip(_problem[0] is None, f"RTSP test camera: {_problem[0]}", REQUIRE)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RtspCamera:
    """The server process; `url` names its one mount. stop() and start() again = a reboot."""

    def __init__(self, *args: str, port: int | None = None) -> None:
        self.port = port or free_port()
        self.args = args
        self.process: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"rtsp://127.0.0.1:{self.port}/cam"

    async def start(self) -> None:
        self.process = await asyncio.create_subprocess_exec(
            SYSTEM_PYTHON,
            str(SERVER),
            str(self.port),
            *self.args,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        assert self.process.stdout is not None
        line = await asyncio.wait_for(self.process.stdout.readline(), 30)
        if line.strip() != b"ready":
            err = b""
            if self.process.stderr is not None:
                with contextlib.suppress(TimeoutError):
                    err = await asyncio.wait_for(self.process.stderr.read(), 5)
            raise AssertionError(f"RTSP server did not start: {line!r} {err[-500:]!r}")

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.kill()
            await self.process.wait()
        self.process = None


def access_units(url: str, stop: threading.Event, into: list[bytes]) -> None:
    """A reference RTSP client (blocking; run it in a thread): the H.264 access units the
    camera sends, as PyAV demuxes them, packets of one timestamp joined."""
    container = av.open(url, options={"rtsp_transport": "tcp"}, timeout=(10, 5))
    try:
        video = container.streams.video[0]
        pending, pts = b"", None
        for packet in container.demux(video):
            if stop.is_set():
                break
            if packet.pts is not None and pts is not None and packet.pts != pts:
                into.append(pending)
                pending = b""
            if packet.pts is not None:
                pts = packet.pts
            pending += bytes(packet)
    finally:
        container.close()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write_h264_file(path: Path, seconds: float, fps: int = 30, gop: int = 15) -> int:
    """An MP4/MKV of a moving pattern in H.264 (AVCC, SPS/PPS only in the header), and a
    tone in AAC; returns its video frame count."""
    import numpy as np

    count = int(seconds * fps)
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = 320, 240, "yuv420p"
        video.codec_context.gop_size = gop
        video.codec_context.options = {"preset": "ultrafast", "tune": "zerolatency"}
        audio = out.add_stream("aac", rate=48000)
        audio.layout = "mono"
        samples = 0
        for i in range(count):
            img = np.zeros((240, 320, 3), dtype=np.uint8)
            img[..., 0] = (np.arange(320)[None, :] + 8 * i) % 256
            img[..., 1] = (np.arange(240)[:, None] + 4 * i) % 256
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            frame.pts = i
            out.mux(video.encode(frame))
            while samples < (i + 1) * 48000 // fps:
                t = np.arange(samples, samples + 1024) / 48000
                pcm = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32).reshape(1, -1)
                a = av.AudioFrame.from_ndarray(pcm, format="fltp", layout="mono")
                a.sample_rate, a.pts = 48000, samples
                a.time_base = fractions.Fraction(1, 48000)
                out.mux(audio.encode(a))
                samples += 1024
        out.mux(video.encode(None))
        out.mux(audio.encode(None))
    return count
