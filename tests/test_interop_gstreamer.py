"""GStreamer 1.22's webrtcbin publishes VP8, and H.264 at rtph264pay's default 1400-byte
MTU, to the gateway (tests/interop/gst_whip.py).

libnice never gathers loopback, so the GStreamer publisher runs in a network namespace of
its own, joined to this one by a veth pair on a private /30: the gateway listens and
gathers on the host end, webrtcbin on the other. Nothing leaves the machine. Needs root,
iproute2, Debian's GStreamer (see `make system-deps`) and /usr/bin/python3 with gi.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import os
import secrets
import shutil
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiohttp.test_utils import TestServer

from media_gateway import set_host_addresses
from vdispatch.node import build_app
from vdispatch.settings import load_settings

from .conftest import Node, require_or_skip
from .forwarded import PAYLOAD_AT_1400, video_forwarded
from .peers import Viewer

CLIENT = Path(__file__).parent / "interop" / "gst_whip.py"
SYSTEM_PYTHON = "/usr/bin/python3"
SECONDS = 6  # of media webrtcbin sends once connected
REQUIRE = "VDISPATCH_REQUIRE_INTEROP"

_GI_CHECK = (
    "import gi; gi.require_version('Gst', '1.0'); gi.require_version('GstWebRTC', '1.0');"
    "gi.require_version('GstSdp', '1.0'); from gi.repository import Gst;"
    "Gst.init(None); import sys;"
    "sys.exit(0 if all(Gst.ElementFactory.find(e) for e in"
    " ('webrtcbin', 'nicesrc', 'vp8enc', 'rtpvp8pay', 'videotestsrc', 'dtlssrtpenc',"
    "  'x264enc', 'rtph264pay'))"
    " else 3)"
)


def _gstreamer_problem() -> str | None:
    if not os.path.exists(SYSTEM_PYTHON):
        return f"{SYSTEM_PYTHON} is missing"
    try:
        done = subprocess.run(
            [SYSTEM_PYTHON, "-c", _GI_CHECK], capture_output=True, text=True, timeout=60
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"cannot run {SYSTEM_PYTHON}: {exc}"
    if done.returncode == 3:
        return "a GStreamer element is missing (webrtcbin, nice, vpx, x264, dtls)"
    if done.returncode != 0:
        return f"python3-gi / GStreamer typelibs unusable: {done.stderr.strip()[-300:]}"
    return None


@dataclass
class Netns:
    name: str
    host_address: str
    peer_address: str


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=10)


def _free_subnet() -> ipaddress.IPv4Network:
    used = subprocess.run(
        ["ip", "-4", "-o", "addr", "show"], capture_output=True, text=True, check=True
    ).stdout
    for _ in range(50):
        net = ipaddress.IPv4Network(f"10.231.{secrets.randbelow(256)}.0/30")
        if f" 10.231.{net.network_address.packed[2]}." not in used:
            return net
    raise RuntimeError("no free 10.231.x.0/30 subnet")


@pytest.fixture
def netns() -> Iterator[Netns]:
    """A network namespace with one veth link to this one, torn down afterwards."""
    require_or_skip(os.geteuid() == 0, "network namespaces need root", REQUIRE)
    require_or_skip(shutil.which("ip") is not None, "iproute2's `ip` is not installed", REQUIRE)
    problem = _gstreamer_problem()
    require_or_skip(problem is None, f"GStreamer WHIP client unavailable: {problem}", REQUIRE)
    tag = secrets.token_hex(3)
    name, host_if, peer_if = f"vdtest-{tag}", f"vdh-{tag}", f"vdn-{tag}"
    net = _free_subnet()
    host, peer = (str(a) for a in net.hosts())
    try:
        _ip("netns", "add", name)
        _ip("link", "add", host_if, "type", "veth", "peer", "name", peer_if)
        _ip("link", "set", peer_if, "netns", name)
        _ip("addr", "add", f"{host}/30", "dev", host_if)
        _ip("link", "set", host_if, "up")
        _ip("-n", name, "addr", "add", f"{peer}/30", "dev", peer_if)
        _ip("-n", name, "link", "set", peer_if, "up")
        _ip("-n", name, "link", "set", "lo", "up")
        yield Netns(name, host, peer)
    finally:
        with contextlib.suppress(subprocess.SubprocessError):
            _ip("link", "del", host_if)  # takes the peer end with it
        with contextlib.suppress(subprocess.SubprocessError):
            _ip("netns", "del", name)


@pytest.fixture
async def veth_node(netns: Netns, tmp_path: Path) -> AsyncIterator[Node]:
    """A gateway listening and gathering ICE on the veth's host end only."""
    settings = load_settings(data_dir=tmp_path / "var", ice_addresses=netns.host_address)
    app = build_app(settings)
    server = TestServer(app, host=netns.host_address, port=0)
    await server.start_server()
    set_host_addresses([netns.host_address])  # the in-process viewer too
    try:
        yield Node(url=str(server.make_url("")).rstrip("/"), app=app)
    finally:
        await server.close()
        set_host_addresses(None)
        await asyncio.sleep(0)


class GstPublisher:
    def __init__(self, ns: Netns, url: str, token: str, *args: str) -> None:
        self.argv = ["ip", "netns", "exec", ns.name, SYSTEM_PYTHON, str(CLIENT), url, token]
        self.argv += ["--seconds", str(SECONDS), *args]
        self.proc: asyncio.subprocess.Process | None = None
        self.output = b""

    async def __aenter__(self) -> GstPublisher:
        env = dict(os.environ)
        env.setdefault("GST_DEBUG", "1")  # errors only
        self.proc = await asyncio.create_subprocess_exec(
            *self.argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, env=env
        )
        return self

    async def wait(self, timeout: float = SECONDS + 30) -> int:
        assert self.proc is not None and self.proc.stdout is not None
        self.output += await asyncio.wait_for(self.proc.stdout.read(), timeout)
        return await self.proc.wait()

    def log(self) -> str:
        return self.output.decode(errors="replace")[-4000:]

    async def __aexit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()


def _video_packets(node: Node, stream: str) -> int:
    publication = node.gateway.publication(stream)
    video = publication.producers.get("video") if publication is not None else None
    return video.packets if video is not None else 0


async def _publish_and_view(
    node: Node, ns: Netns, stream: str, *args: str, codec: str = "VP8"
) -> None:
    async with GstPublisher(ns, node.whip(stream), node.token(stream), *args) as publisher:
        deadline = time.monotonic() + 20
        while _video_packets(node, stream) == 0:
            assert publisher.proc is not None
            if publisher.proc.returncode is not None or time.monotonic() > deadline:
                await publisher.wait()
                raise AssertionError(f"webrtcbin never went live:\n{publisher.log()}")
            await asyncio.sleep(0.1)
        viewer = Viewer(node.whep(stream), node.token(stream, "viewer"))
        try:
            await viewer.start()
            await viewer.wait_frames(60, timeout=15)
            await asyncio.sleep(0.5)
            if codec == "VP8":
                assert not viewer.frames[0][0] & 0x01, "the viewer did not start on a keyframe"
            assert viewer.decoded >= 45, f"{viewer.decoded} of {len(viewer.frames)} decoded"
            info = next(s for s in node.gateway.streams() if s.stream_id == stream)
            assert info.video_codec == codec
            if codec == "H264":  # every packet forwarded, the payloader's 1400 bytes too
                forwarded = video_forwarded(node, stream)
                assert forwarded.largest_payload == PAYLOAD_AT_1400
                assert forwarded.packets > 0 and forwarded.dropped == 0
            assert (info.width, info.height) == (320, 240)
        finally:
            await viewer.close()
        status = await publisher.wait()
        assert status == 0, publisher.log()
    # gst_whip.py DELETEs its resource on the way out.
    deadline = time.monotonic() + 5
    while node.gateway.publication(stream) is not None:
        assert time.monotonic() < deadline, "the stream outlived the client's DELETE"
        await asyncio.sleep(0.1)


async def test_webrtcbin_publishes_vp8_to_a_viewer(veth_node: Node, netns: Netns) -> None:
    # webrtcbin offers a=setup:actpass; the gateway answers passive (DTLS server).
    await _publish_and_view(veth_node, netns, "gst-vp8")


async def test_webrtcbin_as_dtls_server_with_its_rsa_certificate(
    veth_node: Node, netns: Netns
) -> None:
    # The offer says a=setup:passive: the gateway is the DTLS client against webrtcbin's
    # RSA certificate, which needs ECDHE-RSA suites in the gateway's client hello.
    await _publish_and_view(veth_node, netns, "gst-passive", "--setup", "passive")


async def test_webrtcbin_publishes_h264_at_the_payloaders_default_mtu(
    veth_node: Node, netns: Netns
) -> None:
    # rtph264pay's default MTU makes 1400-byte RTP packets: too long for pylibsrtp's own
    # protect buffer once the gateway adds its MID extension.
    await _publish_and_view(veth_node, netns, "gst-h264", "--codec", "h264", codec="H264")
