"""Video dispatch in real Chromium against a real node with real aiortc publishers: the
wall PC opens its screen's link (no login) and plays what the screen shows; a commander's
change, made through the API or the /dispatch page (a grid and a source, or one click on
a saved layout), reaches the open screen through its socket and plays; a revoked link
stops the screen."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from playwright.async_api import Page

from .conftest import Node
from .console import Console, add_station, add_user, logged_in
from .test_browser import chromium, collect_errors, log_in, poll
from .test_dispatch import Publishers

pytestmark = [pytest.mark.browser, pytest.mark.slow]

TILES = """() => Object.fromEntries(
  [...document.querySelectorAll("#grid section.tile[data-stream]")]
  .map((t) => [t.dataset.stream, Number(t.dataset.framesDecoded || 0)]))"""


@pytest.fixture
async def publishers(node: Node) -> AsyncIterator[Publishers]:
    p = Publishers(node)
    try:
        yield p
    finally:
        await p.close()


async def _put(c: Console, path: str, body: Any) -> Any:
    answer = await c.request("PUT", path, data=json.dumps(body))
    assert answer.status == 200, answer.text
    return json.loads(answer.text)


async def _post(c: Console, path: str, body: Any) -> Any:
    answer = await c.post(path, data=json.dumps(body))
    assert answer.status == 201, answer.text
    return json.loads(answer.text)


async def _tiles(page: Page) -> dict[str, int]:
    return dict(await page.evaluate(TILES))


async def _playing(page: Page, ids: list[str], errors: list[str], timeout: float = 20) -> None:
    """Exactly these tiles are on the screen, each decoding, and still decoding."""
    try:
        first = await poll(
            lambda: _tiles(page),
            lambda f: sorted(f) == sorted(ids) and all(f[i] > 0 for i in ids),
            timeout,
            f"tiles {ids} decoding",
        )
    except AssertionError as exc:
        raise AssertionError(f"{exc}; {errors}") from exc
    await poll(
        lambda: _tiles(page),
        lambda f: all(f.get(i, 0) > first[i] for i in ids),
        5,
        "frames still rising",
    )


async def test_a_layout_change_reaches_the_open_screen_and_plays(
    node: Node, publishers: Publishers, chromium_path: str
) -> None:
    await add_user(node.app, "commander", "commander")
    await add_station(node.app, "court-a", ["court-a-wide"], "甲县", "人民法院 第一法庭")
    await add_station(node.app, "court-b", ["court-b-wide"], "乙县", "看守所 讯问室")
    for stream in ("court-a-wide", "court-b-wide"):
        await publishers.start(stream)
    async with logged_in(node.url, "commander") as c:
        await _post(
            c, "/api/dispatch/screens", {"name": "hall", "title": "指挥大厅", "kind": "wall"}
        )
        layout = "/api/dispatch/screens/hall/layout"
        await _put(c, layout, {"grid": 4, "sources": ["court-a-wide", "court-b-wide"]})
        await _post(c, "/api/dispatch/layouts", {"name": "both"})
        await _put(c, layout, {"grid": 1, "sources": ["court-a-wide"]})
        link = await _post(c, "/api/dispatch/screens/hall/link", {})

        async with chromium(chromium_path) as browser:
            wall_pc = await browser.new_page(viewport={"width": 1280, "height": 720})
            errors = collect_errors(wall_pc)
            await wall_pc.goto(node.url + link["url"])
            screen = wall_pc.locator("#screen")
            await _playing(wall_pc, ["court-a-wide"], errors)
            assert await wall_pc.locator("#grid").get_attribute("data-layout") == "1"
            assert await wall_pc.locator("#screen-title").text_content() == "指挥大厅"
            tile = wall_pc.locator('#grid section.tile[data-stream="court-a-wide"]')
            assert await tile.locator("b").text_content() == "人民法院 第一法庭"

            # Changed through the API: pushed, and the new source plays.
            await _put(c, layout, {"grid": 1, "sources": ["court-b-wide"]})
            await _playing(wall_pc, ["court-b-wide"], errors)

            # Through the commander's page: one click recalls the saved layout.
            console_page = await browser.new_page(viewport={"width": 1280, "height": 900})
            console_errors = collect_errors(console_page)
            await console_page.goto(f"{node.url}/dispatch")
            await log_in(console_page, node.url, "commander")
            assert console_page.url == f"{node.url}/dispatch"
            card = console_page.locator('section.screen-card[data-screen="hall"]')
            await card.wait_for(timeout=5000)
            await console_page.locator('#layouts li[data-layout="both"] button.recall').click()
            recalled = 'section.screen-card[data-screen="hall"][data-grid="4"]'
            await console_page.locator(recalled).wait_for(timeout=5000)
            await _playing(wall_pc, ["court-a-wide", "court-b-wide"], errors)
            assert await wall_pc.locator("#grid").get_attribute("data-layout") == "4"
            assert await wall_pc.locator("#grid section.tile").count() == 4  # two blank

            # A grid and a source chosen on the page, applied.
            await card.locator('button[data-grid="1"]').click()
            await card.locator('select[data-slot="0"]').select_option("court-b-wide")
            await card.locator("button.apply").click()
            await _playing(wall_pc, ["court-b-wide"], errors)
            assert console_errors == [], console_errors

            # The link revoked: the screen says so and plays nothing.
            answer = await c.request("DELETE", "/api/dispatch/screens/hall/link")
            assert answer.status == 200
            await wall_pc.locator('#screen[data-state="gone"]').wait_for(timeout=5000)
            assert "已失效" in (await screen.locator("#screen-notice").text_content() or "")
            await poll(lambda: _tiles(wall_pc), lambda f: all(v == 0 for v in f.values()), 5, "")

            for page in (wall_pc, console_page):
                await page.goto("about:blank")

            async def viewers() -> int:
                return sum(s.viewers for s in node.gateway.streams())

            with contextlib.suppress(AssertionError):
                await poll(viewers, lambda n: n == 0, 5, "viewers after leaving")
