"""Kernel buffers of a peer's ICE UDP sockets: room for keyframe bursts.

A 300 KB keyframe is ~250 datagrams arriving within a few milliseconds, often while the
event loop is fanning out the previous packets; the kernel's default receive buffer
(net.core.rmem_default, ~208 KiB of accounting, which counts skb overhead too) drops the
tail of it before the loop reads. The gateway asks for `media.udp_receive_buffer` /
`udp_send_buffer` with SO_RCVBUFFORCE / SO_SNDBUFFORCE, which ignore the sysctl ceiling
but need CAP_NET_ADMIN; without it the plain SO_RCVBUF / SO_SNDBUF are clamped by the
kernel to net.core.rmem_max / wmem_max. What was granted is read back and logged once
per process (a warning, naming the sysctl, when it is less than asked).
"""

from __future__ import annotations

import logging
import socket
from dataclasses import dataclass

import aioice
from aiortc import RTCPeerConnection

logger = logging.getLogger(__name__)

SO_RCVBUFFORCE = getattr(socket, "SO_RCVBUFFORCE", 33)
SO_SNDBUFFORCE = getattr(socket, "SO_SNDBUFFORCE", 32)


@dataclass(frozen=True)
class Granted:
    """Buffer sizes a socket ended up with, in bytes as asked (Linux reports double the
    size set, the other half being its bookkeeping allowance; this is the reported / 2)."""

    receive: int
    send: int
    forced: bool  # set with SO_*BUFFORCE (CAP_NET_ADMIN), not clamped by the sysctls


def size_buffers(sock: socket.socket, receive: int, send: int) -> Granted:
    """Ask for these buffer sizes on one socket; return what the kernel granted."""
    forced = True
    for force, plain, size in (
        (SO_RCVBUFFORCE, socket.SO_RCVBUF, receive),
        (SO_SNDBUFFORCE, socket.SO_SNDBUF, send),
    ):
        try:
            sock.setsockopt(socket.SOL_SOCKET, force, size)
        except OSError:  # EPERM without CAP_NET_ADMIN: the kernel clamps to [rw]mem_max
            forced = False
            try:
                sock.setsockopt(socket.SOL_SOCKET, plain, size)
            except OSError as exc:
                logger.debug("could not size a socket buffer: %s", exc)
    return Granted(
        sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) // 2,
        sock.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF) // 2,
        forced,
    )


def ice_sockets(pc: RTCPeerConnection) -> list[socket.socket]:
    """The UDP sockets aioice gathered for this peer (one per host address and
    component; after setLocalDescription). TURN relay allocations have none of their own."""
    seen: dict[int, aioice.Connection] = {}
    for t in pc.getTransceivers():
        conn = t.receiver.transport.transport._connection
        seen[id(conn)] = conn
    out: list[socket.socket] = []
    for conn in seen.values():
        for proto in conn._protocols:
            transport = getattr(proto, "transport", None)
            sock = transport.get_extra_info("socket") if transport is not None else None
            if sock is not None:
                out.append(sock)
    return out


_reported = False


def tune_socket_buffers(pc: RTCPeerConnection, receive: int, send: int) -> list[Granted]:
    """Size every ICE socket of `pc`; the first time in a process, log what was granted."""
    granted = [size_buffers(sock, receive, send) for sock in ice_sockets(pc)]
    global _reported
    if granted and not _reported:
        _reported = True
        g = min(granted, key=lambda x: (x.receive, x.send))
        if g.receive < receive or g.send < send:
            logger.warning(
                "media socket buffers: asked receive %d / send %d bytes, granted %d / %d"
                " (no CAP_NET_ADMIN: capped by net.core.rmem_max / wmem_max; keyframe"
                " bursts may be dropped: see docs/operations.md, Socket buffers)",
                receive,
                send,
                g.receive,
                g.send,
            )
        else:
            logger.info(
                "media socket buffers: receive %d, send %d bytes%s",
                g.receive,
                g.send,
                " (SO_*BUFFORCE)" if g.forced else "",
            )
    return granted
