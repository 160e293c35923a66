"""The live part of `make screenshots`: real WHIP publishers (the demo's test pattern at
640x360) for the stations on air while the live wall and the focus view are shot, and
the shots' preparations (wait until every tile plays, sound on, …). One station stays
off air so the directory shows a county down."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from aiohttp import web
from aiortc import MediaStreamTrack
from playwright.async_api import Page

from camera_agents import WhipPublisher
from camera_agents.testsrc import PatternTrack, ToneTrack
from signaling import TOKENS_KEY

# A station of the screenshot site that stays off air.
OFF_AIR = "county-e-detention"


@contextlib.asynccontextmanager
async def on_air(url: str, app: web.Application, streams: list[str]) -> AsyncIterator[None]:
    publishers = []
    try:
        for stream in streams:
            if stream == OFF_AIR:
                continue
            tracks: list[MediaStreamTrack] = [
                PatternTrack(stream, fps=15, width=640, height=360),
                ToneTrack(),
            ]
            token = app[TOKENS_KEY].mint([stream], "station", 3600)
            pub = WhipPublisher(f"{url}/whip/{stream}", token, tracks)
            publishers.append(pub)
            await pub.start()
        yield
    finally:
        for pub in publishers:
            with contextlib.suppress(Exception):
                await pub.stop()


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
