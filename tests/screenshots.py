"""`make screenshots`: a node with demo-like data (the demo's stations and accounts, real
recordings made through the recorder over yesterday, one with a publisher disconnect, one
whose file was changed afterwards), real Chromium logged in through the login form, and
PNGs under docs/screenshots/.

To add a page (the live wall, a focus view …): append a Shot to SHOTS: its file name, the
role that logs in, the path, and optionally an async `prepare(page, site)` run before the
picture is taken (start playback, open a dialog …).

    .venv/bin/python -m tests.screenshots [--out docs/screenshots]
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from pathlib import Path

from playwright.async_api import Page, async_playwright

from vdispatch.node import build_app
from vdispatch.settings import load_settings

from . import screenshots_live
from .console import add_station, add_user
from .recordings import make_recording
from .test_browser import CHROMIUM_ARGS, log_in

STATIONS = [
    ("county-a-court", "甲县", "人民法院 第一法庭", "courtroom"),
    ("county-b-interrogation", "乙县", "看守所 讯问室", "interrogation_room"),
    ("county-c-reception", "丙县", "人民检察院 接访室", "reception_room"),
    ("county-d-court", "丁县", "人民法院 第二法庭", "courtroom"),
    ("county-e-detention", "戊县", "看守所 监区", "detention_centre"),
]
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
    Shot("wall", "commander", lambda s: "/", screenshots_live.wall),
    Shot("focus", "commander", lambda s: "/streams/county-a-court", screenshots_live.focus),
]


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
            for station_id, county, name, kind in STATIONS:
                await add_station(app, station_id, [station_id], county, name, kind)
            for name in sorted({s.role for s in SHOTS}):
                await add_user(app, name, name)
            site = Site(str(server.make_url("")).rstrip("/"), day.date().isoformat(), ids)
            async with screenshots_live.on_air(site.url, app, [s[0] for s in STATIONS]):
                await _shoot(site, out, chromium)
        finally:
            await server.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


async def _shoot(site: Site, out: Path, chromium: str) -> None:
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            for role in dict.fromkeys(s.role for s in SHOTS):
                context = await browser.new_context(
                    viewport={"width": 1440, "height": 900}, locale="zh-CN"
                )
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
        finally:
            await browser.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("docs/screenshots"))
    parser.add_argument("--chromium", default=shutil.which("chromium") or "chromium")
    args = parser.parse_args()
    asyncio.run(main(args.out, args.chromium))
