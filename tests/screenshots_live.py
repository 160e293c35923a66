"""The live part of `make screenshots`: real WHIP publishers (the demo's test pattern at
640x360) for the stations on air while the live wall and the focus view are shot, and
the shots' preparations (wait until every tile plays, sound on, …). One station stays
off air so the directory shows a county down. Then the live session, from the director's
seat and the prosecutor terminal at once, with the courtroom's other two cameras on air."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from aiohttp import web
from aiortc import MediaStreamTrack
from playwright.async_api import Browser, Page

from camera_agents import WhipPublisher
from camera_agents.testsrc import PatternTrack, ToneTrack
from signaling import TOKENS_KEY, TokenRole
from vdispatch.demo import COURT_CAMERAS

from .test_browser import log_in

# A station of the screenshot site that stays off air.
OFF_AIR = "county-e-detention"
# The city's clock: the node runs on it too (tests/screenshots.py sets TZ).
TIME_ZONE = "Asia/Shanghai"
# Every browser context: a desktop screen, Chinese, the city's clock.
CONTEXT: dict[str, Any] = {
    "viewport": {"width": 1440, "height": 900},
    "locale": "zh-CN",
    "timezone_id": TIME_ZONE,
}


# The publishers on air, by stream.
OnAir = dict[str, WhipPublisher]


async def publish(url: str, app: web.Application, stream: str, fps: int = 15) -> WhipPublisher:
    tracks: list[MediaStreamTrack] = [
        PatternTrack(stream, fps=fps, width=640, height=360),
        ToneTrack(),
    ]
    token = app[TOKENS_KEY].mint([stream], TokenRole.STATION, 3600)
    pub = WhipPublisher(f"{url}/whip/{stream}", token, tracks)
    await pub.start()
    return pub


async def stop(on: OnAir, streams: list[str]) -> None:
    for stream in streams:
        pub = on.pop(stream, None)
        if pub is not None:
            with contextlib.suppress(Exception):
                await pub.stop()


@contextlib.asynccontextmanager
async def on_air(url: str, app: web.Application, streams: list[str]) -> AsyncIterator[OnAir]:
    on: OnAir = {}
    try:
        for stream in streams:
            if stream != OFF_AIR:
                on[stream] = await publish(url, app, stream)
        yield on
    finally:
        await stop(on, list(on))


async def _tiles_play(page: Page, count: int) -> None:
    await page.wait_for_function(
        """(n) => [...document.querySelectorAll("#wall section.tile")]
          .filter((t) => Number(t.dataset.framesDecoded || 0) > 0 && t.dataset.recording === "true")
          .length >= n""",
        arg=count,
        timeout=30000,
    )
    await asyncio.sleep(2.5)  # a couple of stats samples: bit rates settle


async def wall(page: Page, _site: object) -> None:
    await page.keyboard.press("4")  # four stations on air: one page of four
    await page.locator('#counties section.county[data-down="true"]').wait_for(timeout=30000)
    await _tiles_play(page, 4)


async def focus(page: Page, _site: object) -> None:
    await page.wait_for_function(
        "() => Number(document.getElementById('focus').dataset.framesDecoded || 0) > 0",
        timeout=30000,
    )
    await page.locator("#sound").click()
    await asyncio.sleep(3)


async def dispatch(page: Page, _site: object) -> None:
    await page.locator('#dispatch[data-loaded="true"]').wait_for(timeout=15000)
    await page.locator('section.screen-card[data-screen="hall"][data-grid="4"]').wait_for()
    await page.locator('#events-state[data-state="open"]').wait_for(timeout=15000)


# The director's session page: every court camera playing and recorded.
COURT_PLAYING = """(n) => [...document.querySelectorAll("#thumbs section.tile")]
  .filter((t) => Number(t.dataset.framesDecoded || 0) > 0 && t.dataset.recording === "true")
  .length >= n"""
CITY_PLAYING = """() => [...document.querySelectorAll('#thumbs section.tile[data-source="city"]')]
  .some((t) => Number(t.dataset.framesDecoded || 0) > 0)"""


async def _seat(browser: Browser, url: str, name: str, path: str) -> Page:
    context = await browser.new_context(**CONTEXT)
    page = await context.new_page()
    await page.goto(f"{url}{path}")
    await log_in(page, url, name)
    await page.locator('#hearing[data-ready="true"]').wait_for(timeout=15000)
    await page.locator('#events-state[data-state="open"]').wait_for(timeout=15000)
    return page


async def session_shots(
    browser: Browser, url: str, sid: str, out: Path, app: web.Application, on: OnAir
) -> None:
    """The live session from the director's seat (the courtroom's three cameras, the own
    city camera: Chromium's fake device) and at the prosecutor terminal (the city picture,
    the directions). Only the courtroom stays on air: two cores decode and encode it all."""
    court = [s for s in on if s.startswith("county-a-court")]
    await stop(on, [s for s in on if s not in court])
    for stream in [f"county-a-court-{c}" for c in COURT_CAMERAS]:
        on[stream] = await publish(url, app, stream, fps=10)
    path = f"/sessions/{sid}"
    director = await _seat(browser, url, "commander", path)
    await director.locator("#city-toggle").click()
    await director.locator('#city[data-state="connected"]').wait_for(timeout=20000)
    await director.wait_for_function(COURT_PLAYING, arg=1 + len(COURT_CAMERAS), timeout=30000)
    await director.locator("#direction-list li").nth(2).wait_for()
    await director.locator("#comment-list li").nth(1).wait_for()
    await asyncio.sleep(2.5)  # the main picture and the thumbnails settle
    await director.screenshot(path=str(out / "session-director.png"), full_page=True)
    print(out / "session-director.png")
    prosecutor = await _seat(browser, url, "prosecutor", path)
    await prosecutor.wait_for_function(CITY_PLAYING, timeout=30000)
    await prosecutor.locator("#earpiece-on").click()  # the earpiece on, as in court
    await prosecutor.locator('#direction-list li[data-read="true"]').nth(2).wait_for()
    await asyncio.sleep(2)
    await prosecutor.screenshot(path=str(out / "session-prosecutor.png"), full_page=True)
    print(out / "session-prosecutor.png")
    for page in (prosecutor, director):
        await page.goto("about:blank")  # hang up before the node goes
        await page.context.close()
