"""Real Chromium against the in-process gateway: a browser station publishes over WHIP,
a browser plays it over WHEP, logins and logout, the live wall (after logging in as a
commander) shows three synthetic stations by name, and station presence updates live."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
from aiortc import MediaStreamTrack
from playwright.async_api import Browser, Page, async_playwright

from camera_agents import Agent, AgentConfig
from camera_agents.testsrc import PatternTrack, ToneTrack

from .conftest import Node
from .console import PASSWORD, add_station, add_user

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    "--autoplay-policy=no-user-gesture-required",
    # Without it Chromium offers no 127.0.0.1 candidate, and the gateway gathers only that.
    "--allow-loopback-in-peer-connection",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
WALL_SCREENSHOT = Path("/tmp/wall.png")
T = TypeVar("T")


@contextlib.asynccontextmanager
async def chromium(path: str) -> AsyncIterator[Browser]:
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            await browser.close()


def collect_errors(page: Page) -> list[str]:
    """Uncaught page errors and console errors, to show when an assertion fails."""
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(f"pageerror: {exc}"))
    page.on(
        "console",
        lambda msg: (
            errors.append(f"console.{msg.type}: {msg.text}")
            if msg.type in ("error", "warning")
            else None
        ),
    )
    return errors


async def poll(
    probe: Callable[[], Awaitable[T]], ok: Callable[[T], bool], timeout: float, what: str
) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = await probe()
        if ok(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: still {value!r} after {timeout:.0f}s")
        await asyncio.sleep(0.25)


# Subscribes with the console's own WHEP module; keeps the session on window for getStats.
WHEP_SUBSCRIBE = """async ([streamId, token]) => {
  const { whepSubscribe } = await import("/static/whep.js");
  const video = document.createElement("video");
  Object.assign(video, { autoplay: true, muted: true, playsInline: true });
  document.body.appendChild(video);
  window.viewer = await whepSubscribe(streamId, token, {
    onTrack: (stream) => { video.srcObject = stream; },
  });
}"""

INBOUND_VIDEO = """async (pcName) => {
  const pc = pcName === "viewer" ? window.viewer.pc : window.whipSession.pc;
  const out = { state: pc.connectionState };
  (await pc.getStats()).forEach((r) => {
    if (r.kind !== "video") return;
    if (r.type === "inbound-rtp") Object.assign(out, {
      framesDecoded: r.framesDecoded || 0, frameWidth: r.frameWidth || 0,
      frameHeight: r.frameHeight || 0, packetsReceived: r.packetsReceived || 0,
      keyFramesDecoded: r.keyFramesDecoded || 0, pliCount: r.pliCount || 0,
    });
    if (r.type === "outbound-rtp") Object.assign(out, {
      framesEncoded: r.framesEncoded || 0, packetsSent: r.packetsSent || 0,
    });
  });
  return out;
}"""


async def test_browser_station_publishes_and_browser_viewer_decodes(
    node: Node, chromium_path: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="aiohttp.access")  # to see the DELETEs
    async with chromium(chromium_path) as browser:
        context = await browser.new_context()
        station = await context.new_page()
        station_errors = collect_errors(station)
        resp = await station.goto(f"{node.url}/station/cam1?token={node.token('cam1')}")
        assert resp is not None and resp.status == 200
        state = station.locator("#station")

        async def wait_connected() -> None:
            try:
                await station.locator('#station[data-state="connected"]').wait_for(timeout=15000)
            except Exception as exc:
                raise AssertionError(
                    f"station never connected: state={await state.get_attribute('data-state')} "
                    f"error={await station.locator('#error').text_content()!r} {station_errors}"
                ) from exc

        async def publication() -> object:
            return node.gateway.publication("cam1")

        # Playwright does not report a keepalive request of an unloaded page: ask the server.
        async def deleted(path: str) -> str:
            return next(
                (m for r in caplog.records if f'"DELETE {path} ' in (m := r.getMessage())), ""
            )

        await wait_connected()
        assert node.gateway.publication("cam1") is not None
        # Stop (a DELETE answered 200) and publish again with the page's button.
        first_resource = await station.evaluate("window.whipSession.location")
        await station.locator("#toggle").click()
        await station.locator('#station[data-state="closed"]').wait_for(timeout=5000)
        logged = await poll(lambda: deleted(first_resource), bool, 5, "DELETE on Stop")
        assert '" 200 ' in logged, logged
        assert node.gateway.publication("cam1") is None
        await station.locator("#toggle").click()
        await wait_connected()

        viewer = await context.new_page()
        viewer_errors = collect_errors(viewer)
        await viewer.goto(f"{node.url}/healthz")  # any page of the gateway's origin
        await viewer.evaluate(WHEP_SUBSCRIBE, ["cam1", node.token("cam1", "viewer")])

        async def stats() -> dict[str, Any]:
            return dict(await viewer.evaluate(INBOUND_VIDEO, "viewer"))

        try:
            first = await poll(stats, lambda s: s.get("framesDecoded", 0) > 0, 15, "viewer")
        except AssertionError as exc:
            sent = await station.evaluate(INBOUND_VIDEO, "station")
            raise AssertionError(f"{exc}; station sent {sent}; {viewer_errors}") from exc
        await asyncio.sleep(1.0)
        second = await stats()
        assert second["framesDecoded"] > first["framesDecoded"], (first, second)
        assert second["frameWidth"] > 0 and second["frameHeight"] > 0, second

        # Leaving the station page DELETEs the WHIP resource: the stream goes off air.
        second_resource = await station.evaluate("window.whipSession.location")
        await station.goto(f"{node.url}/healthz")
        logged = await poll(
            lambda: deleted(second_resource), bool, 5, "DELETE of the resource on page unload"
        )
        # The page closes its peer too; the gateway may have dropped the resource already.
        assert '" 200 ' in logged or '" 404 ' in logged, logged
        await poll(publication, lambda pub: pub is None, 5, "publication after page unload")
        assert not [e for e in station_errors if e.startswith("pageerror")], station_errors
        assert not [e for e in viewer_errors if e.startswith("pageerror")], viewer_errors


async def test_station_page_refuses_a_bad_link(node: Node, chromium_path: str) -> None:
    async with chromium(chromium_path) as browser:
        page = await browser.new_page()
        resp = await page.goto(f"{node.url}/station/cam1?token={node.token('other')}")
        assert resp is not None and resp.status == 403
        assert "令牌无效" in (await page.locator("#error").text_content() or "")
        resp = await page.goto(f"{node.url}/station/cam1")
        assert resp is not None and resp.status == 401
        resp = await page.goto(f"{node.url}/station/Bad..Id?token=x")
        assert resp is not None and resp.status == 400


# Frames decoded per tile as the wall last sampled them; -1 for a missing tile.
TILE_FRAMES = """(ids) => ids.map((id) => {
  const tile = document.querySelector(`section.tile[data-stream="${id}"]`);
  return tile ? Number(tile.dataset.framesDecoded || 0) : -1;
})"""


def small_station(config: AgentConfig) -> list[MediaStreamTrack]:
    """The demo's synthetic station at 640x360 to spare this machine's CPU."""
    return [
        PatternTrack(config.station_name or config.stream_id, width=640, height=360),
        ToneTrack(),
    ]


async def log_in(page: Page, url: str, name: str, password: str = PASSWORD) -> None:
    """Through the login form, as a person would."""
    await page.locator('input[name="name"]').fill(name)
    await page.locator('input[name="password"]').fill(password)
    await page.locator('#login-form button[type="submit"]').click()
    await page.wait_for_load_state()


async def test_login_and_logout(node: Node, chromium_path: str) -> None:
    await add_user(node.app, "commander", "commander")
    async with chromium(chromium_path) as browser:
        page = await browser.new_page()
        errors = collect_errors(page)
        await page.goto(f"{node.url}/")
        assert page.url == f"{node.url}/login?next=/"
        await log_in(page, node.url, "commander", "not the password")
        error = page.locator("#login-error")
        assert "用户名或密码错误" in (await error.text_content() or "")
        assert "Wrong user name or password" in (await error.text_content() or "")
        await log_in(page, node.url, "commander")
        assert page.url == f"{node.url}/"
        who = page.locator("#who")
        assert await who.get_attribute("data-role") == "commander"
        assert "指挥员" in (await who.text_content() or "")
        # The session cookie is out of the page's reach.
        assert "vdispatch_session" not in await page.evaluate("document.cookie")
        await page.locator('#events-state[data-state="open"]').wait_for(timeout=5000)
        await page.locator("#logout").click()
        # The form's redirect, or the event socket's "session ended" (4401): the login.
        await page.wait_for_url(re.compile(r".*/login(\?.*)?$"))
        await page.goto(f"{node.url}/")
        assert page.url.startswith(f"{node.url}/login")
        assert not [e for e in errors if e.startswith("pageerror")], errors


async def test_station_presence_updates_live_on_the_admin_page(
    node: Node, chromium_path: str
) -> None:
    await add_user(node.app, "admin", "admin")
    await add_station(node.app, "county-a-court", ["cam1"], "甲县", "人民法院 第一法庭")
    async with chromium(chromium_path) as browser:
        page = await browser.new_page()
        errors = collect_errors(page)
        await page.goto(f"{node.url}/admin/stations")
        await log_in(page, node.url, "admin")
        assert page.url == f"{node.url}/admin/stations"
        cell = page.locator('td.presence[data-station="county-a-court"]')
        assert await cell.get_attribute("data-online") == "false"
        assert "从未上线" in (await cell.text_content() or "")
        await page.locator('#events-state[data-state="open"]').wait_for(timeout=5000)
        agent = Agent(
            AgentConfig(gateways=[node.url], stream_id="cam1", token=node.token("cam1")),
            track_factory=small_station,
        )
        task = asyncio.create_task(agent.run())
        try:
            await asyncio.wait_for(agent.connected.wait(), 20)
            await page.locator(
                'td.presence[data-station="county-a-court"][data-online="true"]'
            ).wait_for(timeout=5000)
            assert "在线" in (await cell.text_content() or "")
        finally:
            await agent.stop()
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await page.locator(
            'td.presence[data-station="county-a-court"][data-online="false"]'
        ).wait_for(timeout=5000)
        assert "最后在线" in (await cell.text_content() or "")
        assert not [e for e in errors if e.startswith("pageerror")], errors


async def test_demo_wall_shows_three_moving_stations(node: Node, chromium_path: str) -> None:
    ids = ["county-a-court", "county-b-interrogation", "county-c-reception"]
    await add_user(node.app, "commander", "commander")
    await add_station(node.app, "county-a-court", ["county-a-court"], "甲县", "人民法院 第一法庭")
    agents = [
        Agent(
            AgentConfig(gateways=[node.url], stream_id=s, token=node.token(s), station_name=s),
            track_factory=small_station,
        )
        for s in ids
    ]
    tasks = [asyncio.create_task(a.run()) for a in agents]
    try:
        await asyncio.wait_for(asyncio.gather(*(a.connected.wait() for a in agents)), 20)
        async with chromium(chromium_path) as browser:
            page = await browser.new_page(viewport={"width": 1280, "height": 720})
            errors = collect_errors(page)
            await page.goto(f"{node.url}/")
            await log_in(page, node.url, "commander")
            assert page.url == f"{node.url}/"

            async def frames() -> list[int]:
                return list(await page.evaluate(TILE_FRAMES, ids))

            try:
                first = await poll(frames, lambda f: min(f) > 0, 20, "frames decoded per tile")
            except AssertionError as exc:
                raise AssertionError(f"{exc}; {errors}") from exc
            await asyncio.sleep(2.2)  # the wall samples getStats every second
            second = await frames()
            assert all(b > a for a, b in zip(first, second, strict=True)), (first, second)
            assert await page.locator("section.tile").count() == 3
            names = {"county-a-court": ("甲县", "人民法院 第一法庭")}  # registered; others not
            for s in ids:
                tile = page.locator(f'section.tile[data-stream="{s}"]')
                county, name = names.get(s, ("", s))
                assert await tile.locator("b").text_content() == name
                assert await tile.locator(".county").text_content() == county
                played = await tile.locator("video").evaluate(
                    "v => v.getVideoPlaybackQuality().totalVideoFrames"
                )
                assert played > 0, (s, played)
            await page.screenshot(path=WALL_SCREENSHOT)
            assert not [e for e in errors if e.startswith("pageerror")], errors
    finally:
        for a in agents:
            await a.stop()
        for t in tasks:
            t.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
