"""Load generator for bench/relay.py: WHIP publishers, cheap WHEP viewers, and a direct
publisher -> viewer pair (no gateway) as the latency baseline, in one process.

Driven over stdin/stdout, one JSON object per line:
  {"cmd": "publish", "streams": [{"url", "token"} | {"janus", "room"}], "p2p": bool,
   "pace_mbps": float}   (optional: pace video like a browser, SendPacer)
  {"cmd": "subscribe", "viewers": [{"url", "token", "publisher": i, "full": bool}]}
  {"cmd": "unsubscribe"}   close every viewer (WHEP DELETE)
  {"cmd": "mark"}     start of the measurement window
  {"cmd": "report"}   the window's figures
  {"cmd": "quit"}

A stream may name its workload ("workload": "small", bench/workload.py's PROFILES;
default the 720p one). A viewer with "latency": false skips the latency matching (long
runs: its samples are kept in memory).

A stream with "janus" (the Janus base URL) and "room" is published to that Janus
VideoRoom instead of by WHIP (bench/janus.py), and its viewers subscribe there: the same
peers, only the signaling differs.

Viewers are cheap: aiortc RTCPeerConnections whose receivers' `_handle_rtp_packet` is
replaced per instance to count packets, sequence gaps and arrival times, instead of
jitter-buffering and decoding. They still feed aiortc's receive statistics, so aiortc
sends RTCP receiver reports as usual; they never NACK, so loss is raw loss. A "full"
viewer counts the same way, then hands each packet to aiortc as usual (jitter buffer,
NACK, PLI, REMB, decoding): the feedback a real browser gives the gateway.

Latency: the publisher's DTLS transport `_send_rtp` is wrapped to note each RTP
payload's send time; each viewer socket's arrival time is the kernel's receive
timestamp (SIOCGSTAMPNS), so time this process spends on other viewers is not counted.
Packets are matched by payload bytes (the gateway rewrites SSRC, sequence and timestamp,
never the payload).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import logging
import socket
import struct
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urljoin

import aiohttp
import aioice.ice
import numpy as np
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError
from aiortc.rtcrtpreceiver import StreamStatistics
from aiortc.rtp import RtpPacket, is_rtcp

import janus
from workload import FPS, EncodedTrack, Pacer, Workload, load_or_build

SIOCGSTAMPNS = 0x8907
_TIMESPEC = struct.Struct("qq")
_STAMP_BUF = bytes(_TIMESPEC.size)
SOCKET_BUFFER = 8 * 1024 * 1024

logger = logging.getLogger("loadgen")


# ---------------------------------------------------------------- aiortc plumbing


def use_loopback(address: str = "127.0.0.1") -> None:
    """aioice skips loopback; on the bench everything is on 127.0.0.1 (or on `address`,
    the one address Janus's libnice will use, which is never loopback)."""

    def get_host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
        return [address] if use_ipv4 else []

    aioice.ice.get_host_addresses = get_host_addresses


def _protocols(pc: RTCPeerConnection) -> list[Any]:
    seen: dict[int, Any] = {}
    for t in pc.getTransceivers():
        for proto in t.receiver.transport.transport._connection._protocols:
            seen[id(proto)] = proto
    return list(seen.values())


def _dtls_transports(pc: RTCPeerConnection) -> list[Any]:
    seen: dict[int, Any] = {}
    for t in pc.getTransceivers():
        seen[id(t.sender.transport)] = t.sender.transport
    return list(seen.values())


def local_ports(pc: RTCPeerConnection) -> list[int]:
    ports = []
    for proto in _protocols(pc):
        if proto.transport is not None:
            ports.append(proto.transport.get_extra_info("sockname")[1])
    return ports


def size_socket_buffers(pc: RTCPeerConnection) -> None:
    """Large kernel buffers (SO_*BUFFORCE as root), so this process being busy for a
    moment does not drop a keyframe burst and blame the gateway for it."""
    for proto in _protocols(pc):
        sock = proto.transport.get_extra_info("socket") if proto.transport else None
        if sock is None:
            continue
        for force, plain in ((33, socket.SO_RCVBUF), (32, socket.SO_SNDBUF)):
            try:
                sock.setsockopt(socket.SOL_SOCKET, force, SOCKET_BUFFER)
            except OSError:
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, plain, SOCKET_BUFFER)


def stamp_arrivals(pc: RTCPeerConnection, stamps: dict[tuple[int, int], float]) -> None:
    """Note the kernel receive time of every SRTP packet, keyed by (ssrc, seq), which
    SRTP leaves in clear."""
    for proto in _protocols(pc):
        sock = proto.transport.get_extra_info("socket") if proto.transport else None
        if sock is None:
            continue
        fd = sock.fileno()
        with contextlib.suppress(OSError):  # the first call only turns stamping on
            fcntl.ioctl(fd, SIOCGSTAMPNS, _STAMP_BUF)
        original = proto.datagram_received

        def datagram_received(
            data: bytes, addr: Any, fd: int = fd, original: Callable[..., None] = original
        ) -> None:
            if len(data) >= 12 and 127 < data[0] < 192 and not 191 < data[1] < 224:
                try:
                    sec, nsec = _TIMESPEC.unpack(fcntl.ioctl(fd, SIOCGSTAMPNS, _STAMP_BUF))
                    t = sec + nsec * 1e-9
                except OSError:
                    t = time.time()
                stamps[(int.from_bytes(data[8:12], "big"), (data[2] << 8) | data[3])] = t
            original(data, addr)

        proto.datagram_received = datagram_received


class SentLog:
    """Send time of each RTP payload, for the last 2-4 s."""

    def __init__(self) -> None:
        self._current: dict[bytes, float] = {}
        self._previous: dict[bytes, float] = {}
        self._rotated = time.monotonic()

    def add(self, payload: bytes, t: float) -> None:
        self._current[payload] = t
        now = time.monotonic()
        if now - self._rotated > 2.0:
            self._previous, self._current = self._current, {}
            self._rotated = now

    def get(self, payload: bytes) -> float | None:
        t = self._current.get(payload)
        return t if t is not None else self._previous.get(payload)


class SendPacer:
    """Roughly a browser's pacer: video RTP leaves at no more than `mbps`, so a keyframe
    is spread over tens of milliseconds instead of leaving in one go. Audio is not paced
    (libwebrtc sends it around its pacer too)."""

    def __init__(self, mbps: float) -> None:
        self.rate = mbps * 1e6 / 8  # bytes per second
        self.next = 0.0

    async def wait(self, size: int) -> None:
        now = time.monotonic()
        start = max(now, self.next)
        self.next = start + size / self.rate
        if start > now + 0.001:
            await asyncio.sleep(start - now)


def log_sends(pc: RTCPeerConnection, log: SentLog, pacer: SendPacer | None = None) -> None:
    """Wrap the publisher's transport: note when each RTP payload goes out (after the
    pacer, when there is one: time spent in our own pacer is not the gateway's)."""
    video_pts: set[int] = set()

    def is_video(pt: int) -> bool:
        if not video_pts and pc.localDescription is not None:  # the m=video line's types
            for line in pc.localDescription.sdp.splitlines():
                if line.startswith("m=video "):
                    video_pts.update(int(x) for x in line.split()[3:])
        return pt in video_pts

    for dtls in _dtls_transports(pc):
        original = dtls._send_rtp

        async def send_rtp(
            data: bytes, original: Callable[[bytes], Awaitable[None]] = original
        ) -> None:
            if not is_rtcp(data):
                if pacer is not None and is_video(data[1] & 0x7F):
                    await pacer.wait(len(data))
                offset = 12 + 4 * (data[0] & 0x0F)
                if data[0] & 0x10:
                    offset += 4 + 4 * ((data[offset + 2] << 8) | data[offset + 3])
                log.add(data[offset:], time.time())
            await original(data)

        dtls._send_rtp = send_rtp


async def post_sdp(url: str, token: str | None, sdp: str) -> tuple[str, str | None]:
    headers = {"Content-Type": "application/sdp"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    timeout = aiohttp.ClientTimeout(total=30)
    async with (
        aiohttp.ClientSession(timeout=timeout) as http,
        http.post(url, data=sdp, headers=headers) as r,
    ):
        body = await r.text()
        if r.status != 201:
            raise RuntimeError(f"POST {url}: {r.status} {body.strip()}")
        location = r.headers.get("Location")
        return body, urljoin(url, location) if location else None


async def wait_connected(pc: RTCPeerConnection, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while pc.connectionState != "connected":
        if pc.connectionState in ("failed", "closed") or time.monotonic() > deadline:
            raise RuntimeError(f"peer connection {pc.connectionState}")
        await asyncio.sleep(0.05)


# ---------------------------------------------------------------- peers


class Publisher:
    """Publishes the workload (video + audio) from pre-encoded packets."""

    def __init__(self, workload: Workload, phase_s: float = 0.0, pace_mbps: float = 0.0) -> None:
        """`pace_mbps`: pace video at that rate (0: aiortc's way, a frame at once)."""
        pacer = Pacer()
        self.tracks = [
            EncodedTrack("video", workload.video, pacer, round(phase_s * FPS)),
            EncodedTrack("audio", workload.audio, pacer, round(phase_s * 50)),
        ]
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.sent = SentLog()
        self.janus_feed = 0
        for track in self.tracks:
            self.pc.addTransceiver(track, direction="sendonly")
        log_sends(self.pc, self.sent, SendPacer(pace_mbps) if pace_mbps else None)

    async def offer(self) -> str:
        await self.pc.setLocalDescription(await self.pc.createOffer())
        size_socket_buffers(self.pc)
        return str(self.pc.localDescription.sdp)

    async def whip(self, url: str, token: str) -> None:
        answer, _ = await post_sdp(url, token, await self.offer())
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
        await wait_connected(self.pc)

    async def janus(self, base: str, http: aiohttp.ClientSession, room: int) -> None:
        """Publish into a new Janus VideoRoom `room`; Janus answers our offer."""
        await janus.create_room(base, http, room)
        _, self.janus_feed, answer = await janus.publish(base, http, room, await self.offer())
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
        await wait_connected(self.pc)


class KindStats:
    """Counters for one received track."""

    __slots__ = (
        "base_bytes",
        "base_frames",
        "base_highest",
        "base_packets",
        "bytes",
        "first_keyframe",
        "frames",
        "gap_packets",
        "highest",
        "in_keyframe",
        "last_arrival",
        "latency",
        "latency_at",
        "latency_key",
        "max_stall",
        "packets",
        "started",
    )

    def __init__(self) -> None:
        self.packets = self.bytes = self.frames = self.gap_packets = 0
        self.highest = -1
        self.first_keyframe: bool | None = None
        self.started = 0.0
        self.last_arrival = 0.0
        self.max_stall = 0.0
        self.latency: list[float] = []
        self.latency_at: list[float] = []
        self.latency_key: list[bool] = []  # the packet is part of a keyframe
        self.in_keyframe = False
        self.base_packets = self.base_bytes = self.base_frames = self.base_highest = 0

    def add(self, packet: RtpPacket, t_rx: float) -> int:
        seq = packet.sequence_number
        highest = self.highest
        if highest < 0:
            ext = seq + 0x10000
            self.highest = ext
            self.started = t_rx
            self.first_keyframe = bool(packet.payload) and _vp8_key_start(packet.payload)
        else:
            d = (seq - highest) & 0xFFFF
            ext = highest + d if d < 0x8000 else highest - (0x10000 - d)
            if ext > highest:
                if ext > highest + 1:
                    self.gap_packets += ext - highest - 1
                self.highest = ext
            stall = t_rx - self.last_arrival
            if stall > self.max_stall:
                self.max_stall = stall
        self.last_arrival = t_rx
        self.packets += 1
        payload = packet.payload
        self.bytes += len(payload)
        if payload and payload[0] & 0x1F == 0x10:  # VP8: start of a frame
            self.in_keyframe = _vp8_key_start(payload)
        if packet.marker:
            self.frames += 1
        return ext

    def mark(self) -> None:
        self.base_packets, self.base_bytes = self.packets, self.bytes
        self.base_frames, self.base_highest = self.frames, self.highest
        self.max_stall = 0.0
        self.latency = []
        self.latency_at = []
        self.latency_key = []

    def window(self) -> dict[str, Any]:
        received = self.packets - self.base_packets
        expected = self.highest - self.base_highest if self.base_highest >= 0 else received
        return {
            "packets": received,
            "expected": expected,
            "lost": max(0, expected - received),
            "bytes": self.bytes - self.base_bytes,
            "frames": self.frames - self.base_frames,
            "max_stall_ms": self.max_stall * 1000,
            "first_keyframe": self.first_keyframe,
        }


def _vp8_key_start(payload: bytes) -> bool:
    b0 = payload[0]
    if not b0 & 0x10:
        return False
    i = 1
    if b0 & 0x80:
        ext = payload[1]
        i = 2
        if ext & 0x80:
            i += 2 if payload[2] & 0x80 else 1
        if ext & 0x40:
            i += 1
        if ext & 0x30:
            i += 1
    return len(payload) > i and not payload[i] & 0x01


class CheapViewer:
    """A recvonly aiortc peer that counts instead of decoding."""

    def __init__(self, sent: SentLog | None, full: bool = False) -> None:
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.sent = sent
        self.full = full
        self.drains: list[asyncio.Task[None]] = []
        self.stats: dict[str, KindStats] = {}
        self.stamps: dict[tuple[int, int], float] = {}
        self.ports: list[int] = []
        self.created = time.monotonic()
        self.resource: str | None = None  # WHEP resource URL
        self.token: str | None = None

    def hook_receivers(self) -> None:
        for t in self.pc.getTransceivers():
            self.stats[t.kind] = stats = KindStats()
            original = t.receiver._handle_rtp_packet if self.full else None
            t.receiver._handle_rtp_packet = self._handler(t.receiver, stats, original)
            if self.full:  # decoded frames must be taken, or they pile up
                self.drains.append(asyncio.ensure_future(_drain(t.receiver.track)))

    def _handler(
        self,
        receiver: Any,
        stats: KindStats,
        original: Callable[[RtpPacket, int], Awaitable[None]] | None,
    ) -> Callable[[RtpPacket, int], Awaitable[None]]:
        streams: dict[int, StreamStatistics] = receiver._RTCRtpReceiver__remote_streams
        codecs: dict[int, Any] = receiver._RTCRtpReceiver__codecs
        stamps = self.stamps
        sent = self.sent  # video and audio: payloads are matched per packet
        is_media: dict[int, bool] = {}  # payload type: not rtx

        async def handle(packet: RtpPacket, arrival_time_ms: int) -> None:
            media = is_media.get(packet.payload_type)
            if media is None:
                codec = codecs.get(packet.payload_type)
                if codec is None:
                    return
                media = is_media[packet.payload_type] = codec.mimeType[-4:].lower() != "/rtx"
            if not media:  # a retransmission (full viewers NACK): not counted
                if original is not None:
                    await original(packet, arrival_time_ms)
                return
            if original is None:
                st = streams.get(packet.ssrc)
                if st is None:
                    st = streams[packet.ssrc] = StreamStatistics(
                        codecs[packet.payload_type].clockRate
                    )
                st.add(packet)  # aiortc's RTCP receiver reports are built from these
            t_rx = stamps.pop((packet.ssrc, packet.sequence_number), None)
            if t_rx is None:
                t_rx = time.time()
            stats.add(packet, t_rx)
            if sent is not None:
                t_tx = sent.get(packet.payload)
                if t_tx is not None:
                    stats.latency.append(t_rx - t_tx)
                    stats.latency_at.append(t_rx)
                    stats.latency_key.append(stats.in_keyframe)
            if original is not None:
                await original(packet, arrival_time_ms)

        return handle

    async def whep(self, url: str, token: str | None) -> None:
        self.pc.addTransceiver("video", direction="recvonly")
        self.pc.addTransceiver("audio", direction="recvonly")
        self.hook_receivers()
        await self.pc.setLocalDescription(await self.pc.createOffer())
        self._prepare_sockets()
        answer, self.resource = await post_sdp(url, token, self.pc.localDescription.sdp)
        self.token = token
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))

    async def janus(self, base: str, http: aiohttp.ClientSession, room: int, feed: int) -> None:
        """Subscribe to `feed` in a Janus VideoRoom: Janus offers, we answer."""
        handle, offer = await janus.subscribe(base, http, room, feed)
        await janus.start_subscription(handle, await self.answer(offer))

    async def answer(self, offer: str) -> str:
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=offer, type="offer"))
        self.hook_receivers()
        await self.pc.setLocalDescription(await self.pc.createAnswer())
        self._prepare_sockets()
        return str(self.pc.localDescription.sdp)

    def _prepare_sockets(self) -> None:
        size_socket_buffers(self.pc)
        stamp_arrivals(self.pc, self.stamps)
        self.ports = local_ports(self.pc)

    async def wait_media(self, timeout: float) -> float:
        """Seconds from creation to the first video packet."""
        deadline = time.monotonic() + timeout
        video = self.stats.get("video")
        while video is None or video.packets == 0:
            if time.monotonic() > deadline:
                raise RuntimeError(f"no video within {timeout:.0f} s")
            await asyncio.sleep(0.02)
            video = self.stats.get("video")
        return time.monotonic() - self.created

    async def close(self) -> None:
        for task in self.drains:
            task.cancel()
        await self.pc.close()

    async def leave(self) -> None:
        """Close, and tell the gateway (WHEP DELETE) as a browser leaving would."""
        if self.resource is not None:
            headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
            timeout = aiohttp.ClientTimeout(total=10)
            with contextlib.suppress(aiohttp.ClientError, asyncio.TimeoutError):
                async with (
                    aiohttp.ClientSession(timeout=timeout) as http,
                    http.delete(self.resource, headers=headers),
                ):
                    pass
        await self.close()

    def mark(self) -> None:
        for s in self.stats.values():
            s.mark()
        if len(self.stamps) > 50_000:  # stamps of packets aiortc never routed to us
            self.stamps.clear()


async def _drain(track: Any) -> None:
    with contextlib.suppress(MediaStreamError):
        while True:
            await track.recv()


# ---------------------------------------------------------------- kernel counters


def udp_drops(ports: set[int]) -> int:
    """Packets the kernel dropped on our sockets (receive buffer full), /proc/net/udp."""
    total = 0
    for name in ("/proc/net/udp", "/proc/net/udp6"):
        with contextlib.suppress(OSError), open(name) as f:
            next(f)
            for line in f:
                parts = line.split()
                if int(parts[1].rsplit(":", 1)[1], 16) in ports:
                    total += int(parts[-1])
    return total


# ---------------------------------------------------------------- the process


class LoopLag:
    """How late this process's event loop runs a 10 ms timer: is the generator keeping up?"""

    def __init__(self) -> None:
        self.samples: list[float] = []
        self.at: list[float] = []
        self._task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        while True:
            t = time.monotonic()
            await asyncio.sleep(0.01)
            self.samples.append(time.monotonic() - t - 0.01)
            self.at.append(time.time())

    def reset(self) -> None:
        self.samples = []
        self.at = []

    def summary(self) -> dict[str, float]:
        if not self.samples:
            return {"p99_ms": 0.0, "max_ms": 0.0}
        a = np.array(self.samples) * 1000
        return {"p99_ms": float(np.percentile(a, 99)), "max_ms": float(a.max())}


def _percentiles(samples: list[float]) -> dict[str, float] | None:
    if not samples:
        return None
    a = np.array(samples) * 1000
    return {
        "n": len(a),
        "p50": float(np.percentile(a, 50)),
        "p90": float(np.percentile(a, 90)),
        "p95": float(np.percentile(a, 95)),
        "p99": float(np.percentile(a, 99)),
        "max": float(a.max()),
    }


def _where(values: list[float], flags: list[bool], flag: bool) -> list[float]:
    return [x for x, f in zip(values, flags, strict=True) if f is flag]


class LoadGen:
    def __init__(self, workload: Workload) -> None:
        self.workload = workload
        self._workloads = {"720p": workload}
        self.publishers: list[Publisher] = []
        self.viewers: list[tuple[int, CheapViewer]] = []
        self.p2p: tuple[Publisher, CheapViewer] | None = None
        self.lag = LoopLag()
        self._drops_base = 0
        self._mark_time = 0.0
        self._mark_wall = 0.0
        self._http: aiohttp.ClientSession | None = None

    def http(self) -> aiohttp.ClientSession:
        """For Janus's signaling: its long polls want one session throughout."""
        if self._http is None:
            self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=40))
        return self._http

    async def publish(
        self, streams: list[dict[str, str]], p2p: bool, pace_mbps: float = 0.0
    ) -> dict[str, Any]:
        n = len(streams)
        for i, s in enumerate(streams):
            name = s.get("workload", "720p")
            if name not in self._workloads:
                self._workloads[name] = load_or_build(name, log=False)
            workload = self._workloads[name]
            pub = Publisher(workload, len(workload.video) / FPS * i / n, pace_mbps)
            if "janus" in s:
                await pub.janus(s["janus"], self.http(), int(s["room"]))
            else:
                await pub.whip(s["url"], s["token"])
            self.publishers.append(pub)
        if p2p:
            pub = Publisher(self.workload, pace_mbps=pace_mbps)
            viewer = CheapViewer(pub.sent)
            answer = await viewer.answer(await pub.offer())
            await pub.pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
            await wait_connected(pub.pc)
            await viewer.wait_media(10)
            self.p2p = (pub, viewer)
        return {"publishers": len(self.publishers), "p2p": self.p2p is not None}

    async def subscribe(self, specs: list[dict[str, Any]], batch: int = 8) -> dict[str, Any]:
        first_video: list[float] = []
        for start in range(0, len(specs), batch):
            group = []
            for spec in specs[start : start + batch]:
                pub = self.publishers[spec["publisher"]]
                viewer = CheapViewer(
                    pub.sent if spec.get("latency", True) else None, spec.get("full", False)
                )
                self.viewers.append((spec["publisher"], viewer))
                group.append(viewer)
                if "janus" in spec:
                    await viewer.janus(
                        spec["janus"], self.http(), int(spec["room"]), pub.janus_feed
                    )
                else:
                    await viewer.whep(spec["url"], spec.get("token"))
            first_video += await asyncio.gather(*(v.wait_media(30) for v in group))
        return {
            "viewers": len(self.viewers),
            "first_video_s_max": max(first_video) if first_video else None,
        }

    async def unsubscribe(self) -> dict[str, Any]:
        """Close every viewer, with a WHEP DELETE where the gateway gave a resource."""
        viewers, self.viewers = self.viewers, []
        await asyncio.gather(*(v.leave() for _, v in viewers), return_exceptions=True)
        return {"closed": len(viewers)}

    def _ports(self) -> set[int]:
        ports = {p for _, v in self.viewers for p in v.ports}
        if self.p2p:
            ports.update(self.p2p[1].ports)
        return ports

    def mark(self) -> dict[str, Any]:
        for _, v in self.viewers:
            v.mark()
        if self.p2p:
            self.p2p[1].mark()
        self.lag.reset()
        self._drops_base = udp_drops(self._ports())
        self._mark_time = time.monotonic()
        self._mark_wall = time.time()
        return {"marked": True}

    def report(self) -> dict[str, Any]:
        elapsed = time.monotonic() - self._mark_time
        per_viewer = []
        latency: list[float] = []
        latency_at: list[float] = []
        latency_key: list[bool] = []
        audio_latency: list[float] = []
        for pub_index, v in self.viewers:
            entry: dict[str, Any] = {"publisher": pub_index}
            if "audio" in v.stats:
                audio_latency += v.stats["audio"].latency
            for kind, s in v.stats.items():
                entry[kind] = s.window()
            per_viewer.append(entry)
            if "video" in v.stats:
                latency += v.stats["video"].latency
                latency_at += v.stats["video"].latency_at
                latency_key += v.stats["video"].latency_key
        p2p = None
        if self.p2p:
            s = self.p2p[1].stats
            v = s["video"]
            p2p = {
                "video": v.window(),
                "latency_keyframe": _percentiles(_where(v.latency, v.latency_key, True)),
                "latency_delta": _percentiles(_where(v.latency, v.latency_key, False)),
                "audio": s["audio"].window() if "audio" in s else None,
                "latency": _percentiles(s["video"].latency),
                "latency_audio": _percentiles(s["audio"].latency) if "audio" in s else None,
            }
        return {
            "elapsed": elapsed,
            "viewers": per_viewer,
            "latency": _percentiles(latency),
            "latency_audio": _percentiles(audio_latency),
            "latency_keyframe": _percentiles(_where(latency, latency_key, True)),
            "latency_delta": _percentiles(_where(latency, latency_key, False)),
            "latency_first_viewer": _percentiles(
                self.viewers[0][1].stats["video"].latency if self.viewers else []
            ),
            "p2p": p2p,
            "loop_lag": self.lag.summary(),
            "timeline": self._timeline(latency, latency_at, elapsed),
            "viewer_socket_drops": udp_drops(self._ports()) - self._drops_base,
        }

    def _timeline(
        self, latency: list[float], at: list[float], elapsed: float
    ) -> list[dict[str, float]]:
        """Per second of the window: worst latency via the gateway, via the direct pair,
        and this process's worst loop lag (a stall seen by both processes at once is the
        machine's, not the gateway's)."""
        seconds = max(1, int(elapsed + 0.999))

        def per_second(values: list[float], times: list[float]) -> np.ndarray:
            out = np.zeros(seconds)
            if values:
                idx = np.clip((np.array(times) - self._mark_wall).astype(int), 0, seconds - 1)
                np.maximum.at(out, idx, np.array(values) * 1000)
            return out

        gw = per_second(latency, at)
        direct = np.zeros(seconds)
        if self.p2p:
            s = self.p2p[1].stats["video"]
            direct = per_second(s.latency, s.latency_at)
        lag = per_second(self.lag.samples, self.lag.at)
        return [
            {"gateway_max_ms": float(g), "direct_max_ms": float(d), "loadgen_lag_ms": float(lg)}
            for g, d, lg in zip(gw, direct, lag, strict=True)
        ]

    async def close(self) -> None:
        closing = [v.close() for _, v in self.viewers] + [p.pc.close() for p in self.publishers]
        if self.p2p:
            closing += [self.p2p[0].pc.close(), self.p2p[1].close()]
        with contextlib.suppress(Exception):
            await asyncio.wait_for(asyncio.gather(*closing), 10)
        if self._http is not None:
            await self._http.close()


async def serve() -> None:
    use_loopback(sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1")
    gen = LoadGen(load_or_build(log=False))
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)

    def reply(obj: dict[str, Any]) -> None:
        sys.stdout.write(json.dumps(obj) + "\n")
        sys.stdout.flush()

    reply({"ready": True})
    while True:
        line = await reader.readline()
        if not line:
            break
        msg = json.loads(line)
        cmd = msg["cmd"]
        try:
            if cmd == "publish":
                reply(
                    await gen.publish(
                        msg["streams"], msg.get("p2p", False), msg.get("pace_mbps", 0.0)
                    )
                )
            elif cmd == "subscribe":
                reply(await gen.subscribe(msg["viewers"]))
            elif cmd == "unsubscribe":
                reply(await gen.unsubscribe())
            elif cmd == "mark":
                reply(gen.mark())
            elif cmd == "report":
                reply(gen.report())
            elif cmd == "quit":
                break
            else:
                reply({"error": f"unknown command {cmd!r}"})
        except Exception as exc:
            logger.exception("command %s failed", cmd)
            reply({"error": f"{cmd}: {exc}"})
    await gen.close()
    reply({"bye": True})


def main() -> None:
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    asyncio.run(serve())


if __name__ == "__main__":
    main()
