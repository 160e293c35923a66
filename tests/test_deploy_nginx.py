"""deploy/nginx/vdispatch.conf, the committed site itself, run by Debian's nginx in front
of a real node: TLS with a throw-away certificate, HTTP → HTTPS, WHIP and WHEP through
the front, the event socket's upgrade, Range on a recording segment, back-fill bodies
past the console's limit, /metrics refused. Only hosts, ports and paths are substituted."""

from __future__ import annotations

import asyncio
import io
import os
import re
import shutil
import socket
import ssl
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from aiortc import RTCConfiguration, RTCPeerConnection

from media_gateway import set_host_addresses
from signaling import ARCHIVE_KEY, TOKENS_KEY
from vdispatch.node import build_app
from vdispatch.settings import load_settings

from .catalogs import copy_recording
from .conftest import require_or_skip
from .console import Console, add_user
from .tls import self_signed

NGINX_DIR = Path(__file__).resolve().parent.parent / "deploy" / "nginx"
SITE = NGINX_DIR / "vdispatch.conf"
NODES = NGINX_DIR / "vdispatch-nodes.conf"
NGINX = shutil.which("nginx") or next(
    (p for p in ("/usr/sbin/nginx",) if os.access(p, os.X_OK)), None
)


@dataclass
class Front:
    https: str  # https://127.0.0.1:PORT, nginx's TLS side
    http: str  # nginx's plain-HTTP side
    app: web.Application
    recording: str
    data_dir: Path
    tls: ssl.SSLContext  # trusts the throw-away certificate only

    def token(self, streams: list[str], role: str) -> str:
        return self.app[TOKENS_KEY].mint(streams, role, 600)  # type: ignore[arg-type]

    def client(self, **kwargs: object) -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(ssl=self.tls)
        return aiohttp.ClientSession(connector=connector, **kwargs)  # type: ignore[arg-type]


@dataclass
class Behind:
    upstream: str  # HOST:PORT of the node
    app: web.Application
    recording: str
    data_dir: Path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _substitute(text: str, pattern: str, replacement: str, count: int) -> str:
    """re.sub that insists the committed site still has what the test replaces."""
    new, made = re.subn(pattern, replacement, text, flags=re.MULTILINE)
    assert made == count, f"{SITE.name}: expected {count} of {pattern!r}, found {made}"
    return new


def render_site(https: int, http: int, nodes: Path, cert: Path, key: Path) -> str:
    """The committed site with this test's ports, node list, certificate (no IPv6 here)."""
    text = _substitute(SITE.read_text(), r"^\s*listen \[::\].*\n", "", 2)
    text = _substitute(text, r"listen 443 ", f"listen 127.0.0.1:{https} ", 1)
    text = _substitute(text, r"listen 80;", f"listen 127.0.0.1:{http};", 1)
    text = _substitute(text, r"include /etc/nginx/vdispatch-nodes\.conf;", f"include {nodes};", 1)
    text = _substitute(text, r"ssl_certificate \S+;", f"ssl_certificate {cert};", 1)
    return _substitute(text, r"ssl_certificate_key \S+;", f"ssl_certificate_key {key};", 1)


def _main_conf(prefix: Path) -> str:
    # nginx's workers drop to `nobody` when the master is root (CI): the temp directories
    # under pytest's private tmp would be out of their reach.
    user = "user root;" if os.geteuid() == 0 else ""
    temps = "\n".join(
        f"    {kind}_temp_path {prefix / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return f"""{user}
daemon off;
worker_processes 1;
pid {prefix / "nginx.pid"};
error_log {prefix / "error.log"} warn;
events {{ worker_connections 256; }}
http {{
    access_log {prefix / "access.log"};
{temps}
    include {prefix / "site.conf"};
}}
"""


@pytest.fixture
def nginx_binary() -> str:
    require_or_skip(
        NGINX is not None,
        "Debian's nginx is not installed (make system-deps, or apt-get install nginx)",
        "VDISPATCH_REQUIRE_INTEROP",
    )
    assert NGINX is not None
    return NGINX


@pytest.fixture
async def node_behind(tmp_path: Path, recording_template: Path) -> AsyncIterator[Behind]:
    """A real node (one closed recording on disk, a commander) that trusts the front."""
    data = tmp_path / "var"
    recording = copy_recording(recording_template, data)
    settings = load_settings(data_dir=data, ice_addresses="127.0.0.1", trusted_proxies="127.0.0.1")
    app = build_app(settings)
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    set_host_addresses(["127.0.0.1"])
    await add_user(app, "commander", "commander")
    try:
        yield Behind(f"127.0.0.1:{server.port}", app, recording.name, data)
    finally:
        await server.close()
        set_host_addresses(None)


@pytest.fixture
def front(nginx_binary: str, tmp_path: Path, node_behind: Behind) -> Iterator[Front]:
    """nginx in the foreground, in a prefix of its own, in front of the node."""
    prefix = tmp_path / "nginx"
    prefix.mkdir()
    for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (prefix / kind).mkdir()
    cert, key = self_signed(prefix)
    https, http = _free_port(), _free_port()
    # Both of the committed node lines lead to the one node under test.
    nodes = _substitute(NODES.read_text(), r"10\.0\.0\.1[12]:8080", node_behind.upstream, 2)
    (prefix / "nodes.conf").write_text(nodes)
    (prefix / "site.conf").write_text(render_site(https, http, prefix / "nodes.conf", cert, key))
    conf = prefix / "nginx.conf"
    conf.write_text(_main_conf(prefix))
    command = [nginx_binary, "-p", str(prefix), "-c", str(conf)]
    checked = subprocess.run([*command, "-t"], capture_output=True, text=True, timeout=30)
    assert checked.returncode == 0, checked.stderr
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    try:
        _wait_listening(process, https)
        tls = ssl.create_default_context(cafile=str(cert))
        yield Front(
            f"https://127.0.0.1:{https}",
            f"http://127.0.0.1:{http}",
            node_behind.app,
            node_behind.recording,
            node_behind.data_dir,
            tls,
        )
    finally:
        process.terminate()  # SIGTERM: nginx's fast shutdown
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stderr:
            process.stderr.close()


def _wait_listening(process: subprocess.Popen[str], port: int, timeout: float = 10.0) -> None:
    """A sync fixture's wait: connect until nginx accepts (or has died, with its reason)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            pass
        try:
            process.wait(timeout=0.05)  # the poll interval, cut short if nginx exits
        except subprocess.TimeoutExpired:
            continue
        raise AssertionError(f"nginx exited: {process.stderr.read() if process.stderr else ''}")
    raise AssertionError(f"nginx did not listen on {port} within {timeout:g} s")


async def _offer(direction: str) -> tuple[RTCPeerConnection, str]:
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    pc.addTransceiver("video", direction=direction)
    await pc.setLocalDescription(await pc.createOffer())
    return pc, pc.localDescription.sdp


async def test_plain_http_is_sent_to_https(front: Front) -> None:
    async with (
        front.client() as http,
        http.get(f"{front.http}/archive?x=1", allow_redirects=False) as r,
    ):
        assert r.status == 301
        assert r.headers["Location"] == "https://127.0.0.1/archive?x=1"


async def test_whip_publish_and_whep_view_pass_the_front_with_their_resources(
    front: Front,
) -> None:
    publisher, offer = await _offer("sendonly")
    viewer, view_offer = await _offer("recvonly")
    sdp = {"Content-Type": "application/sdp"}
    try:
        async with front.client() as http:
            station = {"Authorization": f"Bearer {front.token(['cam'], 'station')}"}
            viewer_auth = {"Authorization": f"Bearer {front.token(['cam'], 'viewer')}"}
            async with http.post(
                f"{front.https}/whip/cam", data=offer, headers={**sdp, **station}
            ) as r:
                assert r.status == 201, await r.text()
                assert r.headers["Content-Type"].startswith("application/sdp")
                assert "max-age=" in r.headers["Strict-Transport-Security"]
                published = r.headers["Location"]
                assert published.startswith("/whip/cam/")
                assert r.headers["ETag"]
            async with http.post(
                f"{front.https}/whep/cam", data=view_offer, headers={**sdp, **viewer_auth}
            ) as r:
                assert r.status == 201, await r.text()
                viewing = r.headers["Location"]
                assert viewing.startswith("/whep/cam/")
            # The resources are reached back through the front (DELETE, as a client ends).
            for resource, auth in ((viewing, viewer_auth), (published, station)):
                async with http.delete(f"{front.https}{resource}", headers=auth) as r:
                    assert r.status == 200, await r.text()
    finally:
        await publisher.close()
        await viewer.close()


async def test_the_event_socket_upgrades_through_the_front(front: Front) -> None:
    jar = aiohttp.CookieJar(unsafe=True)
    async with front.client(cookie_jar=jar) as http:
        console = Console(front.https, http)
        answer = await console.login("commander")
        assert answer.status == 303, answer.text
        # A browser sends its page's origin: the node compares it with Host (port and all).
        # ws_connect returns only after a 101 (anything else raises the handshake error).
        async with http.ws_connect(f"{front.https}/ws/events", origin=front.https) as ws:
            first = await ws.receive_json(timeout=10)
            assert first["topic"] == "hello"
            assert first["data"]["user"] == "commander"


async def test_a_range_request_on_a_segment_answers_206(front: Front) -> None:
    segment = sorted((front.data_dir / "recordings" / front.recording).glob("seg-000001.*"))[0]
    whole = await asyncio.to_thread(segment.read_bytes)
    auditor = {"Authorization": f"Bearer {front.token([], 'auditor')}"}
    url = f"{front.https}/api/recordings/{front.recording}/segments/1"
    async with (
        front.client() as http,
        http.get(url, headers={**auditor, "Range": "bytes=100-1099"}) as r,
    ):
        assert r.status == 206, await r.text()
        assert r.headers["Content-Range"] == f"bytes 100-1099/{len(whole)}"
        assert await r.read() == whole[100:1100]


async def test_backfill_bodies_pass_where_console_bodies_are_refused(front: Front) -> None:
    size = 3 * 1024 * 1024  # over the console's 1 MiB, under ingest's 64 MiB
    async with front.client() as http:
        # No token: the node itself refuses, before reading the body (not nginx's 413).
        async with http.put(
            f"{front.https}/api/ingest/rec-1/segments/1", data=io.BytesIO(bytes(size))
        ) as r:
            assert r.status == 401, await r.text()
            assert "nginx" not in await r.text()
        async with http.post(f"{front.https}/api/sessions", data=io.BytesIO(bytes(size))) as r:
            assert r.status == 413
            assert "nginx" in await r.text()


async def test_metrics_are_not_served_through_the_front(front: Front) -> None:
    async with front.client() as http:
        for path in ("/metrics", "/metrics?x", "/metrics/"):
            async with http.get(f"{front.https}{path}") as r:
                assert r.status == 403, path


async def test_the_node_sees_the_address_nginx_saw_and_https(front: Front) -> None:
    """A client's own X-Forwarded-For is dropped at the front: the failed login is audited
    under the address nginx saw; a real login's session cookie is Secure (TLS at the front)."""
    jar = aiohttp.CookieJar(unsafe=True)
    async with front.client(cookie_jar=jar) as http:
        console = Console(front.https, http)
        spoofed = {"X-Forwarded-For": "203.0.113.9"}
        answer = await console.login("commander", "wrong password", headers=spoofed)
        assert answer.status == 401
        answer = await console.login("commander")
        assert answer.status == 303
        assert "secure" in answer.headers["Set-Cookie"].lower()
    catalog = front.app[ARCHIVE_KEY].catalog
    failures = await asyncio.to_thread(lambda: catalog.audit_rows(action="login.failure"))
    assert [f["actor"] for f in failures] == ["address:127.0.0.1"]


@pytest.mark.parametrize("nodes", ["vdispatch-nodes.conf", "compose-nodes.conf"])
def test_the_site_loads_with_each_committed_node_list(
    nginx_binary: str, tmp_path: Path, nodes: str
) -> None:
    cert, key = self_signed(tmp_path)
    site = render_site(_free_port(), _free_port(), NGINX_DIR / nodes, cert, key)
    (tmp_path / "site.conf").write_text(site)
    conf = tmp_path / "nginx.conf"
    conf.write_text(_main_conf(tmp_path))
    checked = subprocess.run(
        [nginx_binary, "-t", "-p", str(tmp_path), "-c", str(conf)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert checked.returncode == 0, checked.stderr
