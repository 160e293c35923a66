"""A viewer's packets of one burst, sent in UDP GSO runs, arrive as the same datagrams in
the same order as one sendto each would send them (real sockets on loopback)."""

from __future__ import annotations

import asyncio
import os
import socket

import pytest

from media_gateway.aiortc_hooks import egress
from media_gateway.aiortc_hooks.egress import GSO_MAX_DATAGRAM, GSO_MAX_SEGMENTS, SenderOutput


class _Sender:
    """What SenderOutput reads of an RTCRtpSender before it is connected: nothing."""

    transport = None


def _connected_output(transport: asyncio.DatagramTransport, addr: tuple[str, int]) -> SenderOutput:
    out = SenderOutput(_Sender(), batch=True)  # type: ignore[arg-type]
    out.use(transport, addr, bytes)  # plain, not SRTP: the test reads the datagrams
    return out


@pytest.mark.parametrize(
    "sizes",
    [
        [1200] * 10 + [700],  # a frame: equal packets, a shorter last
        [300, 1200, 1200, 900, 1200, 1200, 1200],  # runs broken by other sizes
        [1100] * (GSO_MAX_SEGMENTS + 7),  # longer than one GSO send
        [GSO_MAX_DATAGRAM + 30] * 3 + [400, 400],  # too big for a GSO run: one by one
        [160],  # audio: one packet
    ],
)
async def test_burst_arrives_as_the_same_datagrams_in_order(sizes: list[int]) -> None:
    loop = asyncio.get_running_loop()
    recv = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    recv.bind(("127.0.0.1", 0))
    recv.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 1024 * 1024)
    recv.settimeout(2)
    transport, _ = await loop.create_datagram_endpoint(
        asyncio.DatagramProtocol, local_addr=("127.0.0.1", 0)
    )
    try:
        out = _connected_output(transport, recv.getsockname())
        sent = [bytes([i % 256]) + os.urandom(n - 1) for i, n in enumerate(sizes)]
        for packet in sent:
            assert out.send_rtp(packet)
        await asyncio.sleep(0)  # the flush runs in the loop's next round
        await asyncio.sleep(0.05)
        got = [recv.recv(65536) for _ in sent]
        assert got == sent
        assert egress._gso.usable  # this kernel took the GSO sends: no fallback
    finally:
        transport.close()
        recv.close()


async def test_packets_wait_only_for_the_loops_next_round() -> None:
    loop = asyncio.get_running_loop()
    recv = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    recv.bind(("127.0.0.1", 0))
    recv.setblocking(False)
    transport, _ = await loop.create_datagram_endpoint(
        asyncio.DatagramProtocol, local_addr=("127.0.0.1", 0)
    )
    try:
        out = _connected_output(transport, recv.getsockname())
        out.send_rtp(b"\x80" * 1000)
        out.send_rtp(b"\x81" * 1000)
        with pytest.raises(BlockingIOError):
            recv.recv(2048)  # batched, not sent yet
        await asyncio.sleep(0.01)
        assert recv.recv(2048) == b"\x80" * 1000
        assert recv.recv(2048) == b"\x81" * 1000
    finally:
        transport.close()
        recv.close()
