"""`vdispatch demo`: one node on embedded defaults plus N simulated county stations, the
stations in the registry, and demo accounts (commander, auditor, admin)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import signal
from pathlib import Path

from aiohttp import web

from camera_agents import Agent, AgentConfig
from media_gateway import set_host_addresses
from signaling import STATIONS_KEY, TOKENS_KEY, USERS_KEY, Role, Stations, TokenRole, Users

from .node import build_app
from .settings import Settings

logger = logging.getLogger(__name__)

# stream id (= station id), county, station name, kind
STATIONS = [
    ("county-a-court", "甲县", "人民法院 第一法庭", "courtroom"),
    ("county-b-interrogation", "乙县", "看守所 讯问室", "interrogation_room"),
    ("county-c-reception", "丙县", "人民检察院 接访室", "reception_room"),
    ("county-d-court", "丁县", "人民法院 第二法庭", "courtroom"),
    ("county-e-detention", "戊县", "看守所 监区", "detention_centre"),
]
# login name, role, display name
ACCOUNTS = [
    ("commander", Role.COMMANDER, "值班指挥员"),
    ("auditor", Role.AUDITOR, "审计员"),
    ("admin", Role.ADMIN, "系统管理员"),
]
ACCOUNTS_FILE = "demo-accounts.txt"


def demo_station(i: int) -> tuple[str, str, str, str]:
    if i < len(STATIONS):
        return STATIONS[i]
    return (f"station-{i + 1}", "演示县", f"演示工作站 {i + 1}", "reception_room")


def _read_accounts(path: Path) -> dict[str, str]:
    """name -> password, from a previous demo run."""
    found: dict[str, str] = {}
    with contextlib.suppress(FileNotFoundError):
        for line in path.read_text().splitlines():
            parts = line.split()
            if len(parts) == 3 and not line.startswith("#"):
                found[parts[0]] = parts[2]
    return found


def _write_accounts(path: Path, accounts: list[tuple[str, str, str]]) -> None:
    """Owner-readable only (0600), replaced atomically."""
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write("# vdispatch demo accounts: name role password\n")
        for name, role, password in accounts:
            f.write(f"{name} {role} {password}\n")
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def ensure_accounts(users: Users, data_dir: Path) -> list[tuple[str, str, str]]:
    """Create the demo accounts that do not exist (random passwords, kept in
    DATA_DIR/demo-accounts.txt); returns (name, role, password or a note) for each."""
    path = data_dir / ACCOUNTS_FILE
    known = _read_accounts(path)
    out: list[tuple[str, str, str]] = []
    for name, role, display in ACCOUNTS:
        if users.get(name) is None:
            password = secrets.token_urlsafe(12)
            users.add(name, role, password, display, actor="demo")
            known[name] = password
        out.append((name, role, known.get(name, "(set before this demo; not in the file)")))
    data_dir.mkdir(parents=True, exist_ok=True)
    _write_accounts(path, [(n, r, p) for n, r, p in out if n in known])
    return out


def ensure_stations(stations: Stations, count: int) -> None:
    registered = {s for station in stations.all() for s in station.streams}
    for i in range(count):
        stream_id, county, name, kind = demo_station(i)
        if stream_id not in registered:
            stations.add(stream_id, county, name, kind, [stream_id], actor="demo")


async def run_demo(settings: Settings, stations: int) -> None:
    app = build_app(settings, demo=True)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, settings.host, settings.port)
    await site.start()
    url = settings.node.public_url
    accounts = await asyncio.to_thread(ensure_accounts, app[USERS_KEY], settings.data_dir)
    await asyncio.to_thread(ensure_stations, app[STATIONS_KEY], stations)
    # The simulated stations run in this process; their ICE agent must reach the node.
    set_host_addresses(list(settings.media.ice_addresses) or None)
    agents = []
    tasks = []
    for i in range(stations):
        stream_id, county, name, _ = demo_station(i)
        token = app[TOKENS_KEY].mint([stream_id], TokenRole.STATION, 86400)
        local = f"http://127.0.0.1:{settings.port}"
        agent = Agent(
            AgentConfig(
                gateways=[local],
                stream_id=stream_id,
                token=token,
                station_name=f"{stream_id}  {county}{name}",
            )
        )
        agents.append(agent)
        tasks.append(asyncio.create_task(agent.run()))
    print(f"vdispatch demo: console at {url}/  ({stations} simulated stations; Ctrl-C stops)")
    for name, role, password in accounts:
        print(f"  {role:<10} login {name:<10} password {password}")
    print(f"  (kept in {settings.data_dir / ACCOUNTS_FILE})")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    print("stopping…")
    for agent in agents:
        await agent.stop()
    for task in tasks:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
    await runner.cleanup()
