"""`vdispatch demo`: one node on embedded defaults plus N simulated county stations (the
first a courtroom with three cameras), the stations in the registry, demo accounts
(commander, prosecutor of that county, observer, auditor, admin) and a scheduled
courtroom-direction session a newcomer can start."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import signal
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from aiohttp import web
from aiortc import MediaStreamTrack

from camera_agents import Agent, AgentConfig, LoopSource, use_keyframe_tap
from media_gateway import set_host_addresses, tap_keyframe_requests
from signaling import (
    HEARINGS_KEY,
    RECEPTION_KEY,
    STATIONS_KEY,
    TOKENS_KEY,
    USERS_KEY,
    Hearing,
    Hearings,
    Role,
    Station,
    Stations,
    TokenRole,
    Users,
)

from .node import build_app
from .settings import Settings

logger = logging.getLogger(__name__)

# The courtroom's cameras besides its panorama (the station id's own stream).
COURT_CAMERAS = ["judge", "defendant"]
# stream id (= station id), county, station name, kind
STATIONS = [
    ("county-a-court", "甲县", "人民法院 第一法庭", "courtroom"),
    ("county-b-interrogation", "乙县", "看守所 讯问室", "interrogation_room"),
    ("county-c-reception", "丙县", "人民检察院 接访室", "reception_room"),
    ("county-d-court", "丁县", "人民法院 第二法庭", "courtroom"),
    ("county-e-detention", "戊县", "看守所 监区", "detention_centre"),
]
# login name, role, display name, county (None: the city)
ACCOUNTS = [
    ("commander", Role.COMMANDER, "值班指挥员", None),
    ("prosecutor", Role.PROSECUTOR, "甲县 出庭公诉人", "甲县"),
    ("observer", Role.OBSERVER, "观摩评议员", None),
    ("clerk", Role.CLERK, "书记员", None),
    ("receptionist", Role.RECEPTIONIST, "信访接待员", None),
    ("auditor", Role.AUDITOR, "审计员", None),
    ("admin", Role.ADMIN, "系统管理员", None),
]
# The session a newcomer starts: at the courtroom, directed by the commander.
SESSION_TITLE = "张某等十四人涉黑案 庭审"
SESSION_CASE_NO = "甲检刑诉〔2026〕12号"
SESSION_PARTICIPANTS = [("prosecutor", "prosecutor"), ("observer", "observer")]
# The interrogation at the detention centre's room: the commander questions, the clerk
# keeps the record (the start needs the commander's camera and the room's on air).
INTERROGATION_TITLE = "王某故意伤害案 远程提讯"
INTERROGATION_CASE_NO = "乙检刑捕〔2026〕31号"
ACCOUNTS_FILE = "demo-accounts.txt"


def demo_station(i: int) -> tuple[str, str, str, str]:
    if i < len(STATIONS):
        return STATIONS[i]
    return (f"station-{i + 1}", "演示县", f"演示工作站 {i + 1}", "reception_room")


def station_streams(i: int) -> list[str]:
    """The streams of demo station i: the first (a courtroom) has three cameras."""
    stream_id = demo_station(i)[0]
    return [stream_id] + ([f"{stream_id}-{c}" for c in COURT_CAMERAS] if i == 0 else [])


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
    for name, role, display, county in ACCOUNTS:
        if users.get(name) is None:
            password = secrets.token_urlsafe(12)
            users.add(name, role, password, display, actor="demo", county=county)
            known[name] = password
        out.append((name, role, known.get(name, "(set before this demo; not in the file)")))
    data_dir.mkdir(parents=True, exist_ok=True)
    _write_accounts(path, [(n, r, p) for n, r, p in out if n in known])
    return out


def ensure_stations(stations: Stations, count: int) -> None:
    known = {s.id: s for s in stations.all()}
    for i in range(count):
        station_id, county, name, kind = demo_station(i)
        streams = station_streams(i)
        found = known.get(station_id)
        if found is None:
            stations.add(station_id, county, name, kind, streams, actor="demo")
        elif list(found.streams) != streams:  # from an older demo: one camera
            stations.update(station_id, county, name, kind, streams, actor="demo")


def _scheduled(
    hearings: Hearings,
    station: Station | None,
    kind: str,
    title: str,
    case_no: str,
    participants: list[tuple[str, str]],
    minutes: int,
) -> Hearing | None:
    """A scheduled session of `kind` at `station`, unless one is scheduled or live."""
    if station is None:
        return None
    for h in hearings.list(county=station.county):
        if h.station == station.id and h.kind == kind and h.state in ("scheduled", "live"):
            return h
    return hearings.create(
        kind=kind,
        station=station.id,
        county=station.county,
        streams=station.streams,
        title=title,
        case_no=case_no,
        creator="commander",
        participants=participants,
        scheduled_for=datetime.now(UTC) + timedelta(minutes=minutes),
    )


def ensure_session(hearings: Hearings, stations: Stations) -> Hearing | None:
    """A scheduled direction session at the courtroom, unless one is scheduled or live."""
    court = stations.get(demo_station(0)[0])
    return _scheduled(
        hearings, court, "direction", SESSION_TITLE, SESSION_CASE_NO, SESSION_PARTICIPANTS, 10
    )


def ensure_interrogation(hearings: Hearings, stations: Stations) -> Hearing | None:
    """A scheduled interrogation at the detention centre's interrogation room."""
    room = stations.get(demo_station(1)[0])
    return _scheduled(
        hearings,
        room,
        "interrogation",
        INTERROGATION_TITLE,
        INTERROGATION_CASE_NO,
        [("clerk", "clerk")],
        30,
    )


def kiosk_link(app: web.Application, station_id: str, days: int = 1) -> str:
    """A link for the demo's reception kiosk (a kiosk token bound to its station).
    Blocking (the reception store records the current link)."""
    token_id = uuid.uuid4().hex
    ttl = days * 86400
    token = app[TOKENS_KEY].mint(
        [], TokenRole.KIOSK, ttl, name=f"kiosk:{station_id}", station=station_id, token_id=token_id
    )
    app[RECEPTION_KEY].linked(station_id, token_id, "demo", ttl)
    return f"/kiosk/{station_id}?token={token}"


def _tracks_of(source: LoopSource) -> Callable[[AgentConfig], list[MediaStreamTrack]]:
    """A publication's tracks: fresh readers of the station's loop."""
    return lambda _config: source.tracks()


async def run_demo(settings: Settings, stations: int) -> None:
    app = build_app(settings, demo=True)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, settings.host, settings.port)
    await site.start()
    url = settings.node.public_url
    accounts = await asyncio.to_thread(ensure_accounts, app[USERS_KEY], settings.data_dir)
    await asyncio.to_thread(ensure_stations, app[STATIONS_KEY], stations)
    session = interrogation = kiosk = None
    if stations > 0:
        session = await asyncio.to_thread(ensure_session, app[HEARINGS_KEY], app[STATIONS_KEY])
    if stations > 1:
        interrogation = await asyncio.to_thread(
            ensure_interrogation, app[HEARINGS_KEY], app[STATIONS_KEY]
        )
    if stations > 2:
        kiosk = await asyncio.to_thread(kiosk_link, app, demo_station(2)[0])
    # The simulated stations run in this process; their ICE agent must reach the node.
    set_host_addresses(list(settings.media.ice_addresses) or None)
    # a viewer's PLI reaches the station's loop (its next keyframe goes out at once)
    use_keyframe_tap(tap_keyframe_requests)
    sources: list[LoopSource] = []
    agents = []
    tasks = []
    local = f"http://127.0.0.1:{settings.port}"
    for i in range(stations):
        _, county, name, _ = demo_station(i)
        for stream_id in station_streams(i):
            token = app[TOKENS_KEY].mint([stream_id], TokenRole.STATION, 86400)
            # A pre-encoded loop, not a picture drawn and encoded each frame: five
            # synthetic 720p30 cameras cost a 2-core machine a few percent, not 1.5 cores.
            source = LoopSource(stream_id, f"{stream_id}  {county}{name}")
            await source.start()
            sources.append(source)
            agent = Agent(
                AgentConfig(gateways=[local], stream_id=stream_id, token=token),
                track_factory=_tracks_of(source),
                source=source,
            )
            agents.append(agent)
            tasks.append(asyncio.create_task(agent.run()))
    print(f"vdispatch demo: console at {url}/  ({stations} simulated stations; Ctrl-C stops)")
    for name, role, password in accounts:
        print(f"  {role:<12} login {name:<12} password {password}")
    if session is not None:
        print(
            f"  session {session.case_no} at {session.county}: log in as commander and start"
            f" it at {url}/sessions/{session.id}"
        )
    if interrogation is not None:
        print(f"  interrogation {interrogation.case_no}: {url}/sessions/{interrogation.id}")
    if kiosk is not None:
        print(f"  reception kiosk (a citizen's screen): {url}{kiosk}")
        print(f"  receptionist's queue: {url}/reception")
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
    for source in sources:
        await source.stop()
    use_keyframe_tap(None)
    await runner.cleanup()
