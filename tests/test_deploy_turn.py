"""deploy/coturn/turnserver.conf, the committed file, run by Debian's coturn: a station
peer that may only use TURN (relay-only, as behind a NAT that lets no UDP in) publishes
to a real node through it with the agent's TURN REST credentials; a wrong secret gets no
relay at all. Only ports, addresses, paths and the secret are substituted."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestServer
from aiortc import (
    RTCConfiguration,
    RTCIceTransportPolicy,
    RTCPeerConnection,
    RTCSessionDescription,
)

from camera_agents import ice as agent_ice
from media_gateway import set_host_addresses
from vdispatch.node import build_app
from vdispatch.settings import load_settings

from .conftest import Node, require_or_skip
from .peers import EncodedVideoTrack, encode_vp8, prefer_codecs, whip_or_whep
from .tls import self_signed
from .waiting import wait_for

CONF = Path(__file__).resolve().parent.parent / "deploy" / "coturn" / "turnserver.conf"
TURNSERVER = shutil.which("turnserver") or next(
    (p for p in ("/usr/bin/turnserver",) if os.access(p, os.X_OK)), None
)
SECRET = "test-secret-" + "ab" * 16


def _free_port(kind: int = socket.SOCK_DGRAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _substitute(text: str, pattern: str, replacement: str, count: int) -> str:
    new, made = re.subn(pattern, replacement, text, flags=re.MULTILINE)
    assert made == count, f"{CONF.name}: expected {count} of {pattern!r}, found {made}"
    return new


def render_turn_conf(port: int, tls_port: int, prefix: Path, cert: Path, key: Path) -> str:
    """The committed file on loopback: the node under test is 127.0.0.1, so the gateways'
    network (allowed-peer-ip) is too, and loopback peers are let through for it."""
    text = _substitute(CONF.read_text(), r"^listening-port=\d+$", f"listening-port={port}", 1)
    text = _substitute(text, r"^tls-listening-port=\d+$", f"tls-listening-port={tls_port}", 1)
    text = _substitute(
        text, r"^allowed-peer-ip=.*$", "allowed-peer-ip=127.0.0.1\nallow-loopback-peers", 1
    )
    text = _substitute(text, r"^static-auth-secret=.*$", f"static-auth-secret={SECRET}", 1)
    text = _substitute(text, r"^cert=.*$", f"cert={cert}", 1)
    text = _substitute(text, r"^pkey=.*$", f"pkey={key}", 1)
    text = _substitute(text, r"^pidfile=.*$", f"pidfile={prefix / 'turnserver.pid'}", 1)
    text = _substitute(text, r"^syslog$", f"log-file={prefix / 'turn.log'}", 1)
    return text + (
        "listening-ip=127.0.0.1\nrelay-ip=127.0.0.1\n"
        f"userdb={prefix / 'turndb'}\n"  # no user database is used; keep coturn's out of /var
    )


@pytest.fixture
def turn_url(tmp_path: Path) -> Iterator[str]:
    require_or_skip(
        TURNSERVER is not None,
        "Debian's coturn is not installed (make system-deps, or apt-get install coturn)",
        "VDISPATCH_REQUIRE_INTEROP",
    )
    assert TURNSERVER is not None
    prefix = tmp_path / "coturn"
    prefix.mkdir()
    cert, key = self_signed(prefix)
    port, tls_port = _free_port(), _free_port(socket.SOCK_STREAM)
    conf = prefix / "turnserver.conf"
    conf.write_text(render_turn_conf(port, tls_port, prefix, cert, key))
    process = subprocess.Popen(
        [TURNSERVER, "-c", str(conf), "--no-stdout-log"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_tcp(process, tls_port, prefix / "turn.log")
        yield f"turn:127.0.0.1:{port}?transport=udp"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_tcp(
    process: subprocess.Popen[bytes], port: int, log: Path, timeout: float = 10.0
) -> None:
    """A sync fixture's wait: coturn listens (its TLS port accepts) or has died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            pass
        try:
            process.wait(timeout=0.05)  # the poll interval, cut short if coturn exits
        except subprocess.TimeoutExpired:
            continue
        raise AssertionError(f"turnserver exited: {log.read_text() if log.exists() else ''}")
    raise AssertionError(f"turnserver did not listen on {port} within {timeout:g} s")


def _relay_only(servers: list[str], secret: str, name: str) -> RTCPeerConnection:
    return RTCPeerConnection(
        RTCConfiguration(
            iceServers=agent_ice.ice_servers(servers, secret, name),
            iceTransportPolicy=RTCIceTransportPolicy.RELAY,
        )
    )


def _local_candidate_types(pc: RTCPeerConnection) -> list[str]:
    transceiver = pc.getTransceivers()[0]
    gatherer = transceiver.sender.transport.transport.iceGatherer
    return [c.type for c in gatherer.getLocalCandidates()]


async def test_a_station_publishes_through_turn_alone(node: Node, turn_url: str) -> None:
    pc = _relay_only([turn_url], SECRET, "cam")
    track = EncodedVideoTrack(encode_vp8(60))
    prefer_codecs(pc.addTransceiver(track, direction="sendonly"), ["video/VP8"])
    try:
        await pc.setLocalDescription(await pc.createOffer())
        assert set(_local_candidate_types(pc)) == {"relay"}
        status, answer, _ = await whip_or_whep(
            node.whip("cam"), node.token("cam"), pc.localDescription.sdp
        )
        assert status == 201, answer
        await pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
        await wait_for(
            lambda: [s.packets for s in node.gateway.streams() if s.stream_id == "cam"],
            lambda packets: packets and packets[0] > 30,
            what="the node receives the station's video through TURN",
            timeout=15,
        )
        assert pc.connectionState == "connected"
    finally:
        await pc.close()


async def test_credentials_from_another_secret_get_no_relay(turn_url: str) -> None:
    pc = _relay_only([turn_url], "not-" + SECRET, "cam")
    pc.addTransceiver("video", direction="sendonly")
    try:
        await pc.setLocalDescription(await pc.createOffer())
        assert _local_candidate_types(pc) == []  # coturn refused the allocation (401)
    finally:
        await pc.close()


async def test_a_node_with_the_secret_offers_a_relay_of_its_own(
    tmp_path: Path, turn_url: str
) -> None:
    """The gateway's own credentials (media_gateway/ice.py) are accepted too: its answer
    carries a relay candidate allocated on coturn."""
    settings = load_settings(
        data_dir=tmp_path / "var",
        ice_addresses="127.0.0.1",
        ice_servers=turn_url,
        turn_secret=SECRET,
    )
    app = build_app(settings)
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    set_host_addresses(["127.0.0.1"])
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    pc.addTransceiver("video", direction="sendonly")
    try:
        await pc.setLocalDescription(await pc.createOffer())
        node = Node(url=str(server.make_url("")).rstrip("/"), app=app)
        status, answer, _ = await whip_or_whep(
            node.whip("cam"), node.token("cam"), pc.localDescription.sdp
        )
        assert status == 201, answer
        assert " typ relay " in answer
    finally:
        await pc.close()
        await server.close()
        set_host_addresses(None)
