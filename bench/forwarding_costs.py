"""Microbenchmark: what each step of forwarding one RTP packet costs, in microseconds.

    .venv/bin/python -P bench/forwarding_costs.py

(-P keeps bench/ off the front of sys.path, so no bench module shadows one of our packages.)

Complements the py-spy profile of bench/relay.py --profile: it times the same library
calls the gateway makes per packet, one at a time, on this machine. Ingress steps run
once per packet from the publisher; egress steps once per packet per viewer.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
from collections.abc import Callable

import aioice.stun
from aiortc.rate import RemoteBitrateEstimator
from aiortc.rtcrtpparameters import RTCRtpHeaderExtensionParameters, RTCRtpParameters
from aiortc.rtcrtpreceiver import NackGenerator, StreamStatistics
from aiortc.rtp import HeaderExtensionsMap, RtpPacket
from pylibsrtp import Policy, Session

from media_gateway.aiortc_hooks.remb import BurstEstimator
from media_gateway.aiortc_hooks.srtp import protector, unprotector
from media_gateway.codecs import CodecInfo
from media_gateway.nacks import NackTracker
from media_gateway.producer import Producer
from media_gateway.rtp import one_byte_extension_block, write_header

N = 20_000
PAYLOAD = bytes([0x90, 0x80, 0x81, 0x23]) + os.urandom(1296)  # VP8 descriptor + data
SSRC = 0x1234ABCD


def per_call(fn: Callable[[int], object], n: int = N, warmup: int = 1000) -> float:
    """Mean microseconds of fn(i) over n calls after `warmup` calls (CPU time of this
    process); i counts on through warm-up and measurement, so SRTP never sees a replay."""
    for i in range(warmup):
        fn(i)
    t = time.process_time_ns()
    for i in range(warmup, warmup + n):
        fn(i)
    return (time.process_time_ns() - t) / n / 1000


def srtp_pair(profile: int) -> tuple[Session, Session]:
    key = os.urandom(32 + 12 if profile == Policy.SRTP_PROFILE_AEAD_AES_256_GCM else 30)
    tx = Session(Policy(key=key, ssrc_type=Policy.SSRC_ANY_OUTBOUND, srtp_profile=profile))
    rx = Session(Policy(key=key, ssrc_type=Policy.SSRC_ANY_INBOUND, srtp_profile=profile))
    return tx, rx


def rtp(seq: int, ext: bytes = b"") -> bytes:
    return write_header(0, 96, seq & 0xFFFF, seq * 3000, SSRC, ext) + PAYLOAD


def publisher_extensions() -> tuple[bytes, HeaderExtensionsMap]:
    """The header extensions aiortc's publisher sends: mid and abs-send-time."""
    extmap = HeaderExtensionsMap()
    params = RTCRtpParameters(
        headerExtensions=[
            RTCRtpHeaderExtensionParameters(id=1, uri="urn:ietf:params:rtp-hdrext:sdes:mid"),
            RTCRtpHeaderExtensionParameters(
                id=2, uri="http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"
            ),
        ]
    )
    extmap.configure(params)
    block = one_byte_extension_block([(1, b"0"), (2, b"\x12\x34\x56")])
    return block, extmap


async def datagram_paths(n: int = N) -> dict[str, float]:
    """Per-datagram cost of the asyncio receive path: aioice-style queue + task (what
    aiortc does for every packet) against handling in datagram_received."""
    loop = asyncio.get_running_loop()
    out: dict[str, float] = {}

    class Direct(asyncio.DatagramProtocol):
        def __init__(self) -> None:
            self.count = 0
            self.target = 0
            self.waiter: asyncio.Future[None] = loop.create_future()
            self.sock: socket.socket | None = None

        def got(self) -> None:
            self.count += 1
            if self.count >= self.target and not self.waiter.done():
                self.waiter.set_result(None)

        def datagram_received(self, data: bytes, addr: object) -> None:
            self.got()

    class Queued(Direct):
        def __init__(self) -> None:
            super().__init__()
            self.queue: asyncio.Queue[bytes] = asyncio.Queue()
            self.task = asyncio.ensure_future(self.run())

        def datagram_received(self, data: bytes, addr: object) -> None:
            self.queue.put_nowait(data)

        async def run(self) -> None:
            while True:
                await self.queue.get()
                self.got()

    class Drained(Direct):
        """Reads the rest of a burst itself instead of one datagram per loop pass."""

        def datagram_received(self, data: bytes, addr: object) -> None:
            self.got()
            for _ in range(64):
                try:
                    assert self.sock is not None
                    self.sock.recvfrom(65536)
                except OSError:
                    return
                self.got()

    variants: tuple[tuple[str, type[Direct]], ...] = (
        ("queue + task (aioice -> aiortc, today)", Queued),
        ("handled in datagram_received", Direct),
        ("handled in datagram_received, socket drained", Drained),
    )
    for name, factory in variants:
        transport, proto = await loop.create_datagram_endpoint(factory, local_addr=("127.0.0.1", 0))
        addr = transport.get_extra_info("sockname")
        sock = transport.get_extra_info("socket")
        proto.sock = transport._sock  # the raw socket (asyncio's own attribute)
        for opt in (33, socket.SO_RCVBUF):  # SO_RCVBUFFORCE needs root; else capped
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, opt, 8 * 1024 * 1024)
                break
        sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        # Bursts of 200 (like a keyframe), each drained before the next; the sender's
        # own cost is measured on its own below.
        t0 = time.process_time_ns()
        sent = 0
        while sent < n:
            for _ in range(200):
                sender.sendto(PAYLOAD, addr)
            sent += 200
            proto.target = sent
            proto.waiter = loop.create_future()
            if proto.count < sent:
                await asyncio.wait_for(proto.waiter, 10)
        out[name] = (time.process_time_ns() - t0) / n / 1000
        transport.close()
        sender.close()
        if isinstance(proto, Queued):
            proto.task.cancel()
    return out


def main() -> None:
    rows: list[tuple[str, str, float]] = []

    # ---- ingress (per packet from the publisher) ----
    ext, extmap = publisher_extensions()
    tx256, rx256 = srtp_pair(Policy.SRTP_PROFILE_AEAD_AES_256_GCM)
    protected = [tx256.protect(rtp(i, ext)) for i in range(N + 1000)]
    rows.append(
        ("in", "SRTP unprotect (AES-256-GCM)", per_call(lambda i: rx256.unprotect(protected[i]), N))
    )
    plain = rtp(1, ext)

    def stun_try(i: int) -> None:
        with contextlib.suppress(ValueError):
            aioice.stun.parse_message(plain)

    rows.append(("in", "aioice: STUN parse attempt (raises ValueError)", per_call(stun_try)))
    rows.append(
        (
            "in",
            "aiortc RtpPacket.parse (mid + abs-send-time)",
            per_call(lambda i: RtpPacket.parse(plain, extmap)),
        )
    )
    packets = [RtpPacket.parse(rtp(i, ext), extmap) for i in range(N + 1000)]
    stats = StreamStatistics(90000)
    rows.append(
        ("in", "StreamStatistics.add (for RTCP RR)", per_call(lambda i: stats.add(packets[i])))
    )
    nack = NackGenerator()
    rows.append(("in", "NackGenerator.add", per_call(lambda i: nack.add(packets[i]))))
    tracker = NackTracker()
    rows.append(
        ("in", "NackTracker.add (the gateway's)", per_call(lambda i: tracker.add(i & 0xFFFF)))
    )
    tx_d, rx_d = srtp_pair(Policy.SRTP_PROFILE_AEAD_AES_256_GCM)
    protected_d = [tx_d.protect(rtp(i, ext)) for i in range(N + 1000)]
    rx_direct = unprotector(rx_d)
    rows.append(
        (
            "in",
            "SRTP unprotect, libsrtp called directly (srtp.unprotector)",
            per_call(lambda i: rx_direct(protected_d[i])),
        )
    )
    remb = RemoteBitrateEstimator()
    rows.append(
        (
            "in",
            "RemoteBitrateEstimator.add (REMB)",
            per_call(
                lambda i: remb.add(
                    abs_send_time=(i * 30) & 0xFFFFFF,
                    arrival_time_ms=i // 3,
                    payload_size=1300,
                    ssrc=SSRC,
                )
            ),
        )
    )
    burst_remb = BurstEstimator(lambda e: None)
    rows.append(
        (
            "in",
            "BurstEstimator.add (REMB, bursts of 4 packets)",
            per_call(lambda i: burst_remb.add(i // 12, (i * 30) & 0xFFFFFF, 1300, SSRC)),
        )
    )
    producer = Producer("p", CodecInfo("video/vp8", 90000), lambda: None)
    rows.append(
        (
            "in",
            "Producer.receive, no sink",
            per_call(lambda i: producer.receive(i & 0xFFFF, i * 3000, 0, PAYLOAD)),
        )
    )

    # ---- egress (per packet per viewer) ----
    mid = one_byte_extension_block([(1, b"0")])
    rows.append(
        (
            "out",
            "write_header + payload concat",
            per_call(lambda i: write_header(0, 96, i & 0xFFFF, i, SSRC, mid) + PAYLOAD),
        )
    )
    tx, _ = srtp_pair(Policy.SRTP_PROFILE_AEAD_AES_256_GCM)
    rows.append(
        (
            "out",
            "SRTP protect (AES-256-GCM, aiortc<->aiortc)",
            per_call(lambda i: tx.protect(rtp(i, mid))),
        )
    )
    tx_direct = protector(srtp_pair(Policy.SRTP_PROFILE_AEAD_AES_256_GCM)[0])
    rows.append(
        (
            "out",
            "SRTP protect, libsrtp called directly (srtp.protector)",
            per_call(lambda i: tx_direct(rtp(i, mid))),
        )
    )
    tx128, _ = srtp_pair(Policy.SRTP_PROFILE_AES128_CM_SHA1_80)
    rows.append(
        ("out", "SRTP protect (AES128_CM_SHA1_80)", per_call(lambda i: tx128.protect(rtp(i, mid))))
    )
    rows.append(("out", "  of which building the packet (rtp())", per_call(lambda i: rtp(i, mid))))

    # The receiving socket holds everything sent in one measurement (SO_RCVBUFFORCE as
    # root), so the timed loops only send; it is emptied between measurements.
    recv = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    recv.bind(("127.0.0.1", 0))
    for opt in (33, socket.SO_RCVBUF):
        with contextlib.suppress(OSError):
            recv.setsockopt(socket.SOL_SOCKET, opt, 128 * 1024 * 1024)
            break
    recv.setblocking(False)
    addr = recv.getsockname()
    send = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    wire = srtp_pair(Policy.SRTP_PROFILE_AEAD_AES_256_GCM)[0].protect(rtp(2, mid))
    n_send = 10_000

    def drain() -> int:
        got = 0
        with contextlib.suppress(BlockingIOError):
            while True:
                recv.recv(2048)
                got += 1
        return got

    def sent(cost: float, packets: int) -> float:
        """`cost`, or NaN when the kernel dropped some (the figure would be too low)."""
        return cost if drain() >= packets else float("nan")

    # Receiving: the ingress reads each datagram with recvfrom(65536) (a 64 KiB buffer
    # allocated, then shrunk, per packet) and a burst ends on a recvfrom that raises.
    n_recv = 5_000
    big = bytearray(65536)
    view = memoryview(big)

    def into(i: int) -> bytes:
        n, _ = recv.recvfrom_into(big)
        return bytes(view[:n])

    def would_block(i: int) -> None:
        with contextlib.suppress(BlockingIOError):
            recv.recvfrom(65536)

    for name, fn in (
        ("socket.recvfrom(65536) of a 1.3 KB datagram", lambda i: recv.recvfrom(65536)),
        ("socket.recvfrom_into a reused 64 KiB buffer + bytes copy", into),
    ):
        drain()
        for _ in range(n_recv + 100):
            send.sendto(wire, addr)
        rows.append(("in", name, per_call(fn, n_recv, 100)))
    drain()
    empty = per_call(would_block)
    rows.append(("in", "socket.recvfrom on an empty socket (BlockingIOError)", empty))

    rows.append(
        (
            "out",
            "socket.sendto on loopback (incl. kernel delivery)",
            sent(per_call(lambda i: send.sendto(wire, addr), n_send, 100), n_send + 100),
        )
    )

    async def asyncio_sendto() -> float:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(
            asyncio.DatagramProtocol, local_addr=("127.0.0.1", 0)
        )
        cost = per_call(lambda i: transport.sendto(wire, addr), n_send, 100)
        transport.close()
        return sent(cost, n_send + 100)

    rows.append(
        ("out", "asyncio transport.sendto (what SenderOutput calls)", asyncio.run(asyncio_sendto()))
    )

    # UDP GSO: one sendmsg carries a burst of equal-size SRTP packets to one viewer (the
    # kernel splits it; the last segment may be shorter). Pure Python, Linux >= 4.18.
    # The gateway's bursts are a few packets (a frame drained together), a keyframe's more.
    for batch in (4, 16):
        gso = [(socket.SOL_UDP, 103, len(wire).to_bytes(2, "little"))]  # UDP_SEGMENT
        burst = [wire * batch]
        try:
            calls = n_send // batch
            cost = (
                per_call(lambda i, b=burst, g=gso: send.sendmsg(b, g, 0, addr), calls, 10) / batch
            )
            rows.append(
                (
                    "out",
                    f"sendmsg with UDP_SEGMENT (GSO), {batch} packets a call, per packet",
                    sent(cost, (calls + 10) * batch),
                )
            )
        except OSError as exc:
            drain()
            rows.append(
                ("out", f"sendmsg with UDP_SEGMENT (GSO): unavailable ({exc})", float("nan"))
            )
            break
    for name, cost in asyncio.run(datagram_paths()).items():
        rows.append(("in", f"asyncio datagram receive, {name} (incl. sender)", cost))
    rows.append(
        (
            "in",
            "  the sender's part of that (socket.sendto)",
            sent(per_call(lambda i: send.sendto(PAYLOAD, addr), n_send, 100), n_send + 100),
        )
    )

    print(f"per-packet costs on this machine (mean of {N:,} calls, process CPU time):")
    for side in ("in", "out"):
        print(
            "  ingress, once per published packet:"
            if side == "in"
            else "  egress, once per packet per viewer:"
        )
        for s, name, cost in rows:
            if s == side:
                print(f"    {cost:7.2f} us  {name}")


if __name__ == "__main__":
    main()
