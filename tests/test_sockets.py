"""The gateway's media sockets get the configured kernel buffers (keyframe bursts), and
without CAP_NET_ADMIN what the kernel's ceiling allows, said in the log."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from camera_agents import WhipPublisher
from media_gateway.aiortc_hooks.sockets import ice_sockets, size_buffers

from .conftest import Node
from .peers import EncodedVideoTrack, Viewer, encode_vp8

CAP_NET_ADMIN = 12
ROOT = Path(__file__).resolve().parent.parent


def _has_net_admin() -> bool:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("CapEff:"):
            return bool(int(line.split()[1], 16) >> CAP_NET_ADMIN & 1)
    return False


def _sysctl(name: str) -> int:
    return int(Path("/proc/sys/net/core", name).read_text())


def _expected(asked: int, ceiling: str) -> int:
    """What the kernel grants: all of it with CAP_NET_ADMIN, else capped by the sysctl."""
    return asked if _has_net_admin() else min(asked, _sysctl(ceiling))


def _buffers(sock: socket.socket) -> tuple[int, int]:
    return (
        sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) // 2,
        sock.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF) // 2,
    )


async def test_publisher_and_viewer_sockets_get_the_configured_buffers(node: Node) -> None:
    settings = node.gateway.settings
    publisher = WhipPublisher(
        node.whip("cam"), node.token("cam"), [EncodedVideoTrack(encode_vp8(30, gop=15))]
    )
    await publisher.start()
    viewer = Viewer(node.whep("cam"), node.token("cam", "viewer"))
    await viewer.start()
    try:
        await viewer.wait_frames(3)
        publication = node.gateway.publication("cam")
        assert publication is not None
        router = node.gateway.router_for("cam")
        peers = [publication.peer.pc] + [peer.pc for _, peer in router.subscribers.values()]
        assert len(peers) == 2
        want = (
            _expected(settings.udp_receive_buffer, "rmem_max"),
            _expected(settings.udp_send_buffer, "wmem_max"),
        )
        for pc in peers:
            socks = ice_sockets(pc)
            assert socks, "the peer has no ICE socket"
            assert all(_buffers(s) == want for s in socks), [_buffers(s) for s in socks]
    finally:
        await viewer.close()
        await publisher.stop()


def test_a_plain_socket_is_given_what_was_asked_and_says_so() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        granted = size_buffers(sock, 3 * 1024 * 1024, 1024 * 1024)
        assert granted.forced is _has_net_admin()
        assert granted.receive == _expected(3 * 1024 * 1024, "rmem_max")
        assert granted.send == _expected(1024 * 1024, "wmem_max")
        assert (granted.receive, granted.send) == _buffers(sock)


# A gateway-style peer in a process without CAP_NET_ADMIN: the kernel refuses
# SO_*BUFFORCE and caps the plain options at net.core.[rw]mem_max.
_WITHOUT_NET_ADMIN = """
import asyncio, json, logging, sys
from aiortc import RTCPeerConnection
from media_gateway.aiortc_hooks import set_host_addresses, tune_socket_buffers

async def main():
    set_host_addresses(["127.0.0.1"])
    pc = RTCPeerConnection()
    pc.addTransceiver("video", direction="recvonly")
    await pc.setLocalDescription(await pc.createOffer())
    granted = tune_socket_buffers(pc, 64 << 20, 64 << 20)
    await pc.close()
    print(json.dumps([[g.receive, g.send, g.forced] for g in granted]))

logging.basicConfig(level=logging.INFO, stream=sys.stderr)
asyncio.run(main())
"""


def test_without_cap_net_admin_the_kernel_ceiling_is_granted_and_a_warning_says_so() -> None:
    capsh = shutil.which("capsh")
    if capsh is None or not _has_net_admin():
        pytest.skip("needs capsh (libcap2-bin) and CAP_NET_ADMIN to drop")
    env = dict(
        os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    )
    done = subprocess.run(
        [
            capsh,
            "--drop=cap_net_admin",
            "--",
            "-c",
            'exec "$0" -c "$1"',
            sys.executable,
            _WITHOUT_NET_ADMIN,
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    granted = json.loads(done.stdout.strip().splitlines()[-1])
    ceiling = [_sysctl("rmem_max"), _sysctl("wmem_max"), False]
    assert granted and all(g == ceiling for g in granted), granted
    warnings = [line for line in done.stderr.splitlines() if line.startswith("WARNING")]
    assert len(warnings) == 1, done.stderr[-2000:]
    assert "net.core.rmem_max" in warnings[0] and "docs/operations.md" in warnings[0]
