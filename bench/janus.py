"""Janus VideoRoom as the bench's baseline gateway: a throw-away Janus process, and its
HTTP signaling for the load generator.

Janus (Debian's `janus` package, 1.1.x) runs with its own config folder: the HTTP
transport on a free port, only the VideoRoom plugin, its own RTP port range, no
session timeout (the bench does not long-poll between commands). Each publisher gets a
room; it joins with its offer and gets Janus's answer (`joinandconfigure`). A viewer
joins the room as a subscriber, gets Janus's offer and answers it (`start`): the
reverse of WHEP.
"""

from __future__ import annotations

import secrets
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import psutil

LIB = Path("/usr/lib/x86_64-linux-gnu/janus")
PLUGIN = "janus.plugin.videoroom"


def janus_executable() -> str | None:
    return shutil.which("janus")


def library_dir() -> Path:
    """Where Debian put the plugins and transports (the multiarch triplet varies)."""
    if LIB.exists():
        return LIB
    for found in Path("/usr/lib").glob("*/janus"):
        if (found / "plugins").exists():
            return found
    return Path("/usr/lib/janus")


def ice_address() -> str | None:
    """The address Janus's media use: libnice skips loopback, so the first up interface
    with IPv4 that is not loopback (traffic to it still goes through the kernel's
    loopback path; the load generator's peers use the same address in Janus runs)."""
    stats = psutil.net_if_stats()
    for name, addrs in psutil.net_if_addrs().items():
        if name == "lo" or not (name in stats and stats[name].isup):
            continue
        for a in addrs:
            if a.family == socket.AF_INET and not a.address.startswith("127."):
                return str(a.address)
    return None


def write_config(root: Path, http_port: int, rtp_ports: tuple[int, int], address: str) -> Path:
    """A config folder with the HTTP transport and the VideoRoom plugin only (each
    folder holds a symlink to just that library, so nothing else is loaded)."""
    lib = library_dir()
    conf = root / "conf"
    folders = {name: root / name for name in ("plugins", "transports", "events", "loggers")}
    for path in (conf, *folders.values()):
        path.mkdir(parents=True, exist_ok=True)
    (folders["plugins"] / "libjanus_videoroom.so").symlink_to(lib / "plugins/libjanus_videoroom.so")
    (folders["transports"] / "libjanus_http.so").symlink_to(lib / "transports/libjanus_http.so")
    (conf / "janus.jcfg").write_text(
        f"""general: {{
    configs_folder = "{conf}"
    plugins_folder = "{folders["plugins"]}"
    transports_folder = "{folders["transports"]}"
    events_folder = "{folders["events"]}"
    loggers_folder = "{folders["loggers"]}"
    debug_level = 3
    session_timeout = 0
    admin_secret = "{secrets.token_hex(8)}"
}}
media: {{
    rtp_port_range = "{rtp_ports[0]}-{rtp_ports[1]}"
}}
nat: {{
    ice_enforce_list = "{address}"
}}
"""
    )
    (conf / "janus.transport.http.jcfg").write_text(
        f"""general: {{
    json = "plain"
    base_path = "/janus"
    http = true
    port = {http_port}
    interface = "lo"
    https = false
}}
admin: {{
    admin_http = false
}}
"""
    )
    (conf / "janus.plugin.videoroom.jcfg").write_text("general: {\n}\n")
    return conf


def start(
    root: Path, http_port: int, rtp_ports: tuple[int, int], address: str, log: Any
) -> subprocess.Popen[bytes]:
    exe = janus_executable()
    if exe is None:
        raise RuntimeError("janus is not installed (apt-get install janus)")
    conf = write_config(root, http_port, rtp_ports, address)
    cmd = [exe, "--configs-folder", str(conf), "--config", str(conf / "janus.jcfg")]
    cmd += ["--disable-colors", "--debug-timestamps"]
    return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)


# ---------------------------------------------------------------- signaling


class JanusError(RuntimeError):
    pass


@dataclass
class Handle:
    """One VideoRoom handle in its own session (a peer connection each)."""

    base: str
    http: aiohttp.ClientSession
    session: int = 0
    handle: int = 0

    @classmethod
    async def open(cls, base: str, http: aiohttp.ClientSession) -> Handle:
        h = cls(base, http)
        h.session = (await h._post(f"{base}/janus", {"janus": "create"}))["data"]["id"]
        attach = {"janus": "attach", "plugin": PLUGIN}
        h.handle = (await h._post(f"{base}/janus/{h.session}", attach))["data"]["id"]
        return h

    async def _post(self, url: str, body: dict[str, Any]) -> dict[str, Any]:
        body = {**body, "transaction": secrets.token_hex(6)}
        async with self.http.post(url, json=body) as r:
            reply: dict[str, Any] = await r.json(content_type=None)
        if reply.get("janus") == "error":
            raise JanusError(f"{body['janus']}: {reply['error']}")
        return reply

    async def request(self, body: dict[str, Any]) -> dict[str, Any]:
        """A synchronous plugin request (create, list...): its answer."""
        reply = await self._post(
            f"{self.base}/janus/{self.session}/{self.handle}", {"janus": "message", "body": body}
        )
        data: dict[str, Any] = reply["plugindata"]["data"]
        if "error" in data:
            raise JanusError(f"{body['request']}: {data['error']}")
        return data

    async def event(
        self, body: dict[str, Any], jsep: dict[str, str] | None = None, timeout: float = 20.0
    ) -> tuple[dict[str, Any], dict[str, str] | None]:
        """An asynchronous plugin request: its event (and JSEP), long-polled."""
        msg: dict[str, Any] = {"janus": "message", "body": body}
        if jsep is not None:
            msg["jsep"] = jsep
        ack = await self._post(f"{self.base}/janus/{self.session}/{self.handle}", msg)
        transaction = ack["transaction"]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            url = f"{self.base}/janus/{self.session}?maxev=10&rid={secrets.token_hex(4)}"
            async with self.http.get(url) as r:
                events = await r.json(content_type=None)
            for ev in events if isinstance(events, list) else [events]:
                if ev.get("janus") != "event" or ev.get("transaction") != transaction:
                    continue
                data: dict[str, Any] = ev["plugindata"]["data"]
                if "error" in data:
                    raise JanusError(f"{body['request']}: {data['error']}")
                return data, ev.get("jsep")
        raise JanusError(f"{body['request']}: no event within {timeout:.0f} s")

    async def trickle_done(self) -> None:
        """aiortc puts all its candidates in the SDP: no more are coming."""
        await self._post(
            f"{self.base}/janus/{self.session}/{self.handle}",
            {"janus": "trickle", "candidate": {"completed": True}},
        )


async def create_room(base: str, http: aiohttp.ClientSession, room: int) -> None:
    h = await Handle.open(base, http)
    await h.request(
        {
            "request": "create",
            "room": room,
            "publishers": 1,
            "bitrate": 0,
            "fir_freq": 0,
            "videocodec": "vp8",
            "audiocodec": "opus",
            "notify_joining": False,
        }
    )


async def publish(
    base: str, http: aiohttp.ClientSession, room: int, offer: str
) -> tuple[Handle, int, str]:
    """Join `room` as its publisher with `offer`: the handle, the feed id, Janus's answer."""
    h = await Handle.open(base, http)
    data, jsep = await h.event(
        {
            "request": "joinandconfigure",
            "room": room,
            "ptype": "publisher",
            "audio": True,
            "video": True,
        },
        {"type": "offer", "sdp": offer},
    )
    if jsep is None:
        raise JanusError(f"joinandconfigure: no answer ({data})")
    await h.trickle_done()
    return h, int(data["id"]), jsep["sdp"]


async def subscribe(
    base: str, http: aiohttp.ClientSession, room: int, feed: int
) -> tuple[Handle, str]:
    """Join `room` as a subscriber to `feed`: the handle and Janus's offer."""
    h = await Handle.open(base, http)
    data, jsep = await h.event(
        {"request": "join", "room": room, "ptype": "subscriber", "streams": [{"feed": feed}]}
    )
    if jsep is None:
        raise JanusError(f"join as subscriber: no offer ({data})")
    return h, jsep["sdp"]


async def start_subscription(h: Handle, answer: str) -> None:
    await h.event({"request": "start"}, {"type": "answer", "sdp": answer})
    await h.trickle_done()
