"""`make screenshots`: a node with demo-like data (the demo's stations and accounts, real
recordings made through the recorder over yesterday, one with a publisher disconnect, one
whose file was changed afterwards; hearing sessions live, scheduled and ended, and the
command hall's screens: tests/screenshots_sessions.py), real Chromium logged in through
the login form, and PNGs under docs/screenshots/. The node and the browser keep the
city's clock (Asia/Shanghai).

To add a page (the live wall, a focus view …): append a Shot to SHOTS: its file name, the
role that logs in, the path, and optionally an async `prepare(page, site)` run before the
picture is taken (start playback, open a dialog …).

    .venv/bin/python -m tests.screenshots [--out docs/screenshots]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import tempfile
import time as clock
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from pathlib import Path

from aiohttp import web
from playwright.async_api import Page, async_playwright

from vdispatch.demo import STATIONS, station_streams
from vdispatch.node import build_app
from vdispatch.settings import load_settings

from . import screenshots_live, screenshots_sessions
from .console import add_station
from .recordings import make_recording
from .test_browser import CHROMIUM_ARGS, log_in

# stream, start (hours after midnight yesterday, local), minutes, pause (after, for) in s,
# session
Recording = tuple[str, float, float, tuple[float, float] | None, str | None]
RECORDINGS: list[Recording] = [
    ("county-a-court", 7.5, 20, None, None),
    # A hearing seen from two sites; the court's camera dropped out for a while.
    ("county-a-court", 9.0, 20, (600, 900), "hearing-2026-118"),
    ("county-b-interrogation", 9.0, 20, None, "hearing-2026-118"),
    ("county-b-interrogation", 14.0, 10, None, None),
    ("county-c-reception", 10.25, 20, None, None),
    ("county-c-reception", 15.5, 20, (300, 1500), None),
    ("county-d-court", 13.0, 20, None, "hearing-2026-121"),
    ("county-e-detention", 0.0, 20, None, None),
    ("county-e-detention", 6.0, 20, None, None),
    ("county-e-detention", 18.0, 20, None, None),
]
FRAMES = 1200  # every recording: the same 1200 encoded frames, at 1 or 2 fps


@dataclass
class Site:
    url: str
    day: str
    ids: list[str]  # recording ids, in RECORDINGS order
    sessions: screenshots_sessions.Sessions


@dataclass
class Shot:
    name: str  # docs/screenshots/{name}.png
    role: str
    path: Callable[[Site], str]
    prepare: Callable[[Page, Site], Awaitable[None]] | None = None
    full_page: bool = False


async def _play(page: Page, site: Site) -> None:
    await page.wait_for_function("() => window.vdPlayer !== undefined", timeout=15000)
    await page.evaluate("() => window.vdPlayer.seek(window.vdPlayer.start + 5 * 60 * 1000 + 3000)")
    await page.locator("#playpause").click()
    await asyncio.sleep(2.5)


SHOTS: list[Shot] = [
    Shot("archive-list", "auditor", lambda s: "/archive", full_page=True),
    Shot("recording-player", "auditor", lambda s: f"/archive/{s.ids[1]}", _play, True),
    Shot("sync-player", "auditor", lambda s: f"/archive/sync?id={s.ids[1]}&id={s.ids[2]}", _play),
    Shot("coverage-timeline", "auditor", lambda s: f"/archive/timeline?day={s.day}"),
    Shot("audit-log", "auditor", lambda s: "/audit"),
    Shot(
        "archive-session", "auditor", lambda s: f"/archive/sessions/{s.sessions.ended}", None, True
    ),
    Shot("wall", "commander", lambda s: "/", screenshots_live.wall),
    Shot("focus", "commander", lambda s: "/streams/county-a-court", screenshots_live.focus),
    Shot("sessions", "commander", lambda s: "/sessions", None, True),
    Shot("dispatch", "commander", lambda s: "/dispatch", screenshots_live.dispatch),
]
# Then the live session, from two seats at once (screenshots_live.session_shots):
# session-director.png and session-prosecutor.png.


async def make_data(data: Path, day: datetime) -> list[str]:
    ids = []
    for stream, hours, minutes, pause, session in RECORDINGS:
        fps = max(1, round(FRAMES / (minutes * 60)))
        directory = await make_recording(
            data,
            seconds=FRAMES / fps,
            segment_seconds=60,
            stream=stream,
            start=(day + timedelta(hours=hours)).timestamp(),
            pause=pause,
            fps=fps,
            session=session,
        )
        ids.append(directory.name)
    # An evidence file changed after the fact: its badge says so.
    seg = data / "recordings" / ids[-2] / "seg-000003.webm"
    raw = bytearray(seg.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    seg.write_bytes(bytes(raw))
    return ids


async def main(out: Path, chromium: str) -> None:
    # The node keeps the city's time, as the browser does: yesterday is a Chinese day.
    os.environ["TZ"] = screenshots_live.TIME_ZONE
    clock.tzset()
    out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="vdispatch-shots-"))
    try:
        day = datetime.combine(datetime.now().date() - timedelta(days=1), time(0)).astimezone()
        data = tmp / "var"
        ids = await make_data(data, day)
        app = build_app(load_settings(data_dir=data, ice_addresses="127.0.0.1"), demo=True)
        from aiohttp.test_utils import TestServer

        server = TestServer(app, host="127.0.0.1", port=0)
        await server.start_server()
        try:
            for i, (station_id, county, name, kind) in enumerate(STATIONS):
                await add_station(app, station_id, station_streams(i), county, name, kind)
            await screenshots_sessions.add_accounts(app)
            url = str(server.make_url("")).rstrip("/")
            # Before any station is on air: what is recorded while a session is live binds.
            sessions = await screenshots_sessions.make_sessions(url, app, data, day)
            site = Site(url, day.date().isoformat(), ids, sessions)
            async with screenshots_live.on_air(site.url, app, [s[0] for s in STATIONS]) as on:
                await screenshots_sessions.make_dispatch(url)
                await _shoot(site, out, chromium, app, on)
        finally:
            await server.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


async def _shoot(
    site: Site, out: Path, chromium: str, app: web.Application, on: screenshots_live.OnAir
) -> None:
    async with async_playwright() as p:
        # --lang: Chinese date and time inputs too (the context's locale is not enough).
        args = [*CHROMIUM_ARGS, "--lang=zh-CN"]
        browser = await p.chromium.launch(executable_path=chromium, args=args)
        try:
            for role in dict.fromkeys(s.role for s in SHOTS):
                context = await browser.new_context(**screenshots_live.CONTEXT)
                page = await context.new_page()
                await page.goto(f"{site.url}/login")
                await log_in(page, site.url, role)
                for shot in (s for s in SHOTS if s.role == role):
                    await page.goto(site.url + shot.path(site))
                    if shot.prepare is not None:
                        await shot.prepare(page, site)
                    path = out / f"{shot.name}.png"
                    await page.screenshot(path=str(path), full_page=shot.full_page)
                    print(path)
                await context.close()
            await screenshots_live.session_shots(
                browser, site.url, site.sessions.live, out, app, on
            )
        finally:
            await browser.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("docs/screenshots"))
    parser.add_argument("--chromium", default=shutil.which("chromium") or "chromium")
    args = parser.parse_args()
    asyncio.run(main(args.out, args.chromium))
