"""Recorder cost benchmark: what recording adds to a stream the gateway forwards.

Feeds the relay benchmark's workload (720p VP8 ~3 Mb/s + Opus) through the same code
the gateway runs, in one process and one run, and compares:

- forwarding: Producer.receive -> one Consumer (header rewrite, SRTP protect, sendto to a
  local UDP socket): the per-packet work the gateway does for one viewer;
- recording: the same packets also into the recorder's TrackFeeds (frame reassembly,
  wall-clock mapping, queueing to the writer thread, PyAV remux, fsync, hash, signed
  manifest): CPU of the event-loop side and of the writer thread separately.

Prints CPU seconds per media second for each, their ratio, and the segment
close-to-chained latency (cut decided on the loop -> segment hashed, chained and the
signed manifest on disk). Run: .venv/bin/python bench/recorder_cost.py [--seconds 60]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import pylibsrtp
from aiortc.codecs.opus import OpusEncoder
from aiortc.codecs.vpx import Vp8Encoder

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from media_gateway.codecs import CodecInfo
from media_gateway.consumer import Consumer
from media_gateway.producer import Producer
from recorder import Recorder, RecorderSettings, TrackInfo
from workload import load_or_build


class UdpOutput:
    """SRTP-protect and send to a local socket, as SenderOutput does."""

    def __init__(self, addr: tuple[str, int]) -> None:
        key = os.urandom(30)
        policy = pylibsrtp.Policy(key=key, ssrc_type=pylibsrtp.Policy.SSRC_ANY_OUTBOUND)
        policy.allow_repeat_tx = True
        self._session = pylibsrtp.Session(policy)
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.setblocking(False)
        self._addr = addr

    def ready(self) -> bool:
        return True

    def send_rtp(self, data: bytes) -> bool:
        try:
            self._sock.sendto(self._session.protect(data), self._addr)
        except BlockingIOError:
            return False
        return True

    def set_sender_info(self, ntp: int, rtp_timestamp: int, packets: int, octets: int) -> None:
        pass


def packetize(seconds: float) -> list[tuple[str, int, int, int, bytes]]:
    """(kind, seq, timestamp, marker, payload) in send order, interleaved by time."""
    work = load_or_build()
    vp8, opus = Vp8Encoder(), OpusEncoder()
    events: list[tuple[float, str, int, int, bytes]] = []
    for i in range(int(seconds * 30)):
        frame = work.video[i % len(work.video)]
        payloads = vp8._packetize(frame, i & 0x7FFF)
        for j, p in enumerate(payloads):
            events.append((i / 30, "video", i * 3000, int(j == len(payloads) - 1), p))
    for i in range(int(seconds * 50)):
        events.append((i / 50, "audio", i * 960, 1, work.audio[i % len(work.audio)]))
    del opus
    events.sort(key=lambda e: e[0])
    seqs = {"video": 0, "audio": 0}
    out = []
    for _, kind, ts, marker, payload in events:
        out.append((kind, seqs[kind], ts & 0xFFFFFFFF, marker, payload))
        seqs[kind] = (seqs[kind] + 1) & 0xFFFF
    return out


def thread_cpu(name_prefix: str) -> float:
    """CPU seconds of this process's threads whose name starts with the prefix."""
    total = 0.0
    names = {t.native_id: t.name for t in threading.enumerate()}
    for tid in os.listdir("/proc/self/task"):
        if names.get(int(tid), "").startswith(name_prefix):
            with open(f"/proc/self/task/{tid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


async def run(seconds: float, realtime: bool) -> None:
    packets = packetize(seconds)
    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink.bind(("127.0.0.1", 0))
    sink.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 16)  # we never read it
    addr = sink.getsockname()

    def forward_only() -> tuple[float, Producer, Producer]:
        video = Producer("v", CodecInfo("video/vp8", 90000), lambda: None)
        audio = Producer("a", CodecInfo("audio/opus", 48000, 2), lambda: None)
        Consumer("cv", video, UdpOutput(addr), 96, 1)
        Consumer("ca", audio, UdpOutput(addr), 111, 2)
        return 0.0, video, audio

    async def feed(video: Producer, audio: Producer) -> float:
        start_cpu = time.thread_time()
        t0 = time.monotonic()
        for n, (kind, seq, ts, marker, payload) in enumerate(packets):
            (video if kind == "video" else audio).receive(seq, ts, marker, payload)
            if n % 64 == 0:
                if realtime:
                    media_t = ts / (90000 if kind == "video" else 48000)
                    await asyncio.sleep(max(0.0, t0 + media_t - time.monotonic()))
                else:
                    await asyncio.sleep(0)
        return time.thread_time() - start_cpu

    _, video, audio = forward_only()
    fwd_cpu = await feed(video, audio)

    with tempfile.TemporaryDirectory() as tmp:
        recorder = Recorder(RecorderSettings(data_dir=Path(tmp), segment_seconds=10), "bench")
        _, video, audio = forward_only()
        feeds = recorder.start(
            "bench",
            [TrackInfo("video", "video/vp8", 90000), TrackInfo("audio", "audio/opus", 48000)],
            lambda: None,
        )
        video.add_sink(feeds["video"])
        audio.add_sink(feeds["audio"])
        recording = recorder.active["bench"]
        both_loop_cpu = await feed(video, audio)
        writer_cpu_before_close = thread_cpu("rec-")
        await recorder.close()
        latencies = sorted(recording.close_latencies)
        segments = len(recording.manifest.segments)
        size = sum(s.bytes for s in recording.manifest.segments)
    writer_cpu = writer_cpu_before_close
    rec_loop = both_loop_cpu - fwd_cpu
    print(
        f"workload: {seconds:.0f} s of 720p VP8 + Opus, {len(packets)} packets "
        f"({'real time' if realtime else 'as fast as possible'})"
    )
    print(
        f"forwarding to one viewer:  {fwd_cpu / seconds * 1000:7.2f} ms CPU per media second "
        f"({fwd_cpu / len(packets) * 1e6:.1f} µs per packet)"
    )
    print(
        f"recording, event loop:     {rec_loop / seconds * 1000:7.2f} ms CPU per media second "
        f"({rec_loop / len(packets) * 1e6:.1f} µs per packet)"
    )
    print(
        f"recording, writer thread:  {writer_cpu / seconds * 1000:7.2f} ms CPU per media second "
        "(off the loop: PyAV remux, fsync, sha256)"
    )
    print(f"loop cost of recording / forwarding to one viewer: {rec_loop / fwd_cpu:.2f}")
    total = (rec_loop + writer_cpu) / fwd_cpu
    print(f"all recording CPU / forwarding to one viewer:      {total:.2f}")
    if latencies:
        print(
            f"segment close-to-chained latency: p50 {statistics.median(latencies) * 1000:.1f} ms, "
            f"max {latencies[-1] * 1000:.1f} ms over {len(latencies)} segments "
            f"({segments} segments, {size / 1e6:.1f} MB)"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument(
        "--fast", action="store_true", help="feed as fast as possible, not in real time"
    )
    args = ap.parse_args()
    asyncio.run(run(args.seconds, realtime=not args.fast))


if __name__ == "__main__":
    main()
