"""The commanders' live wall and focus view on a real node: real aiortc publishers
(640x360 test pattern), real Chromium logged in as a commander. Tiles play and name their
station and county, layouts switch by key and page, a tile says when its stream is gone
and plays again when the station is back, the directory flags a county with every
station down, and the focus view plays with sound and detailed stats. Also the HTTP side:
who may open /streams/{id}, the recording flag and the per-county counts."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiortc import MediaStreamTrack
from playwright.async_api import Page

from camera_agents import WhipPublisher
from camera_agents.testsrc import PatternTrack, ToneTrack

from .conftest import Node
from .console import add_station, add_user, logged_in
from .test_browser import chromium, collect_errors, log_in, poll

STATIONS = [
    # station id = stream id, county, name, kind
    ("county-a-court", "甲县", "人民法院 第一法庭", "courtroom"),
    ("county-b-interrogation", "乙县", "看守所 讯问室", "interrogation_room"),
    ("county-c-reception", "丙县", "人民检察院 接访室", "reception_room"),
]
IDS = [s[0] for s in STATIONS]

# Per tile on the page: stream id -> frames decoded as the wall last sampled them.
RES = "640\u00d7360"  # as the page writes it: 640×360  # noqa: RUF003
NONE = "\u2013"  # what the page shows for no value yet (an en dash)
SHOWN = """() => Object.fromEntries([...document.querySelectorAll("#wall section.tile")]
  .map((t) => [t.dataset.stream, Number(t.dataset.framesDecoded || 0)]))"""


class Publishers:
    """Real WHIP publishers, stopped when the test ends."""

    def __init__(self, node: Node) -> None:
        self.node = node
        self.live: dict[str, WhipPublisher] = {}

    async def start(self, stream: str, audio: bool = False) -> WhipPublisher:
        tracks: list[MediaStreamTrack] = [PatternTrack(stream, fps=15, width=640, height=360)]
        if audio:
            tracks.append(ToneTrack())
        pub = WhipPublisher(self.node.whip(stream), self.node.token(stream), tracks)
        await pub.start()
        self.live[stream] = pub
        return pub

    async def stop(self, stream: str) -> None:
        await self.live.pop(stream).stop()

    async def close(self) -> None:
        for pub in self.live.values():
            with contextlib.suppress(Exception):
                await pub.stop()


@pytest.fixture
async def publishers(node: Node) -> AsyncIterator[Publishers]:
    p = Publishers(node)
    try:
        yield p
    finally:
        await p.close()


async def _registered(node: Node) -> None:
    await add_user(node.app, "commander", "commander")
    for station_id, county, name, kind in STATIONS:
        await add_station(node.app, station_id, [station_id], county, name, kind)


async def _shown(page: Page) -> dict[str, int]:
    return dict(await page.evaluate(SHOWN))


async def _frames_rise(page: Page, ids: list[str], errors: list[str], timeout: float = 20) -> None:
    """Every tile of `ids` is on the page and decodes, and keeps decoding."""
    try:
        first = await poll(
            lambda: _shown(page), lambda f: all(f.get(i, 0) > 0 for i in ids), timeout, "frames"
        )
    except AssertionError as exc:
        raise AssertionError(f"{exc}; {errors}") from exc
    second = await poll(
        lambda: _shown(page),
        lambda f: all(f.get(i, 0) > first[i] for i in ids),
        5,
        "frames still rising",
    )
    assert set(ids) <= set(second)


async def _leave(page: Page, node: Node) -> None:
    """Leave the console (its scripts close their WHEP sessions on pagehide) and give the
    node a moment to drop the viewers, so none is still negotiating at teardown."""

    async def viewers() -> int:
        return sum(s.viewers for s in node.gateway.streams())

    await page.goto("about:blank")
    with contextlib.suppress(AssertionError):
        await poll(viewers, lambda n: n == 0, 5, "viewers after leaving")


# ------------------------------------------------------------------ HTTP


async def test_focus_page_is_for_commanders_and_observers(node: Node) -> None:
    for role in ("commander", "observer", "auditor", "admin"):
        await add_user(node.app, role, role)
    await add_station(node.app, "county-a-court", ["cam1"])  # registered, not on air
    for role, status in (("commander", 200), ("observer", 200), ("auditor", 403), ("admin", 403)):
        async with logged_in(node.url, role) as c:
            answer = await c.get("/streams/cam1")
            assert answer.status == status, (role, answer.status)
            if status == 200:
                assert 'data-stream="cam1"' in answer.text and "返回集中显示" in answer.text
                assert "script-src" not in answer.text  # scripts are files, CSP 'self'
    async with logged_in(node.url, "commander") as c:
        bad = await c.get("/streams/Bad..Id")
        assert bad.status == 400 and "视频流编号无效" in bad.text and 'id="error"' in bad.text
        # Neither on air nor registered: a 404 page, in the page's language.
        missing = await c.get("/streams/nobody-here")
        assert missing.status == 404 and "没有视频流 nobody-here" in missing.text
        assert "not on air" not in missing.text
        wall = await c.get("/")
        assert "工作站目录" in wall.text and 'data-layout="16"' in wall.text
        english = await c.get("/?lang=en")
        assert "Stations" in english.text and "Keys 1 4 9 0" in english.text
        english = await c.get("/streams/nobody-here?lang=en")
        assert english.status == 404 and "No stream nobody-here" in english.text


async def test_streams_say_whether_they_are_recorded_and_counties_are_counted(
    node: Node, publishers: Publishers
) -> None:
    await _registered(node)
    await add_station(node.app, "county-a-2", ["cam-a2"], "甲县", "看守所", "detention_centre")
    await publishers.start("county-a-court")
    async with logged_in(node.url, "commander") as c:
        streams: dict[str, Any] = {}

        async def listed() -> dict[str, Any]:
            nonlocal streams
            streams = {s["id"]: s for s in (await c.json("/api/streams"))["streams"]}
            return streams

        await poll(listed, lambda s: "county-a-court" in s, 10, "stream listed")
        stream = streams["county-a-court"]
        assert stream["recording"] is True and stream["recording_id"].startswith("county-a-court")
        stations = await poll(
            lambda: c.json("/api/stations"),
            lambda d: any(x["county"] == "甲县" and x["online"] == 1 for x in d["counties"]),
            10,
            "presence stored",
        )
    counties = {x["county"]: x for x in stations["counties"]}
    assert counties["甲县"] == {"county": "甲县", "stations": 2, "online": 1, "down": False}
    assert counties["乙县"] == {"county": "乙县", "stations": 1, "online": 0, "down": True}


# ------------------------------------------------------------------ browser


@pytest.mark.browser
@pytest.mark.slow
async def test_wall_plays_pages_recovers_and_flags_a_county_down(
    node: Node, publishers: Publishers, chromium_path: str
) -> None:
    await _registered(node)
    for stream in IDS:
        await publishers.start(stream)
    async with chromium(chromium_path) as browser:
        page = await browser.new_page(viewport={"width": 1280, "height": 720})
        errors = collect_errors(page)
        await page.goto(f"{node.url}/")
        await log_in(page, node.url, "commander")
        assert page.url == f"{node.url}/"
        await page.evaluate("localStorage.clear()")
        await page.reload()
        await page.locator('#events-state[data-state="open"]').wait_for(timeout=5000)

        # Three live tiles, named by station and county, recorded, decoding.
        await _frames_rise(page, IDS, errors)
        for station_id, county, name, _ in STATIONS:
            tile = page.locator(f'#wall section.tile[data-stream="{station_id}"]')
            assert await tile.locator("b").text_content() == name
            assert await tile.locator(".county").text_content() == county
            assert await tile.get_attribute("data-state") == "live"
            stats = await tile.locator(".stats").text_content() or ""
            assert RES in stats and "fps" in stats and "丢包" in stats, stats
        await (
            page.locator('#wall section.tile[data-recording="true"]').nth(2).wait_for(timeout=5000)
        )
        for _, county, _, _ in STATIONS:
            section = page.locator(f'#counties section.county[data-county="{county}"]')
            await section.locator('li[data-online="true"]').wait_for(timeout=5000)
            assert await section.get_attribute("data-down") == "false"
        assert await page.locator("#counties-down").is_hidden()

        # Layouts by key: 1 shows one tile a page, paging shows the next; remembered.
        await page.keyboard.press("1")
        assert await page.locator("#wall").get_attribute("data-layout") == "1"
        assert await page.locator("#wall").get_attribute("data-pages") == "3"
        seen = []
        for n in range(3):
            await poll(lambda: _shown(page), lambda f: len(f) == 1, 5, "one tile")
            (only,) = (await _shown(page)).keys()
            seen.append(only)
            assert await page.locator("#page").text_content() == f"第 {n + 1}/3 页"
            await page.keyboard.press("ArrowRight")
        assert sorted(seen) == sorted(IDS)
        await _frames_rise(page, [seen[2]], errors)  # the last page plays
        await page.keyboard.press("PageUp")
        await poll(lambda: _shown(page), lambda f: list(f) == [seen[1]], 5, "page 2 again")
        await page.reload()
        assert await page.locator("#wall").get_attribute("data-layout") == "1"
        await page.keyboard.press("0")
        assert await page.locator("#wall").get_attribute("data-layout") == "16"
        await page.locator('#wall button, #toolbar button[data-layout="4"]').first.click()
        assert await page.locator("#wall").get_attribute("data-layout") == "4"
        await _frames_rise(page, IDS, errors)

        # A station goes off air: its tile says so, its county is flagged down.
        gone = "county-b-interrogation"
        tile = page.locator(f'#wall section.tile[data-stream="{gone}"]')
        await publishers.stop(gone)
        await page.locator(
            f'#wall section.tile[data-stream="{gone}"][data-state="offline"]'
        ).wait_for(timeout=10000)
        assert await tile.locator(".state").text_content() == "信号中断"
        assert "起" in (await tile.locator(".stats").text_content() or "")  # since when
        await page.screenshot(path="/tmp/wall-offline.png")
        assert await tile.get_attribute("data-recording") == "false"
        await page.locator(
            '#counties section.county[data-county="乙县"][data-down="true"]'
        ).wait_for(timeout=10000)
        flag = page.locator('section.county[data-county="乙县"] .flag')
        assert await flag.text_content() == "全部离线"
        assert "1 个县区全部离线" in (await page.locator("#counties-down").text_content() or "")
        assert await page.locator("#counties-down").is_visible()
        assert await page.locator("#summary").text_content() == "2 路直播"

        # … and comes back: the same tile plays again by itself.
        await publishers.start(gone)
        await page.locator(f'#wall section.tile[data-stream="{gone}"][data-state="live"]').wait_for(
            timeout=20000
        )
        await _frames_rise(page, [gone], errors)
        await page.locator(
            '#counties section.county[data-county="乙县"][data-down="false"]'
        ).wait_for(timeout=10000)
        assert await page.locator("#counties-down").is_hidden()
        await page.screenshot(path="/tmp/wall-test.png")
        assert not [e for e in errors if e.startswith("pageerror")], errors
        await _leave(page, node)


@pytest.mark.browser
@pytest.mark.slow
async def test_focus_view_plays_with_sound_and_stats(
    node: Node, publishers: Publishers, chromium_path: str
) -> None:
    await _registered(node)
    stream = "county-a-court"
    await publishers.start(stream, audio=True)
    async with chromium(chromium_path) as browser:
        page = await browser.new_page(viewport={"width": 1280, "height": 720})
        errors = collect_errors(page)
        await page.goto(f"{node.url}/")
        await log_in(page, node.url, "commander")
        await _frames_rise(page, [stream], errors)

        # From the directory: the live station links to its focus view.
        link = page.locator(f'#counties li[data-station="{stream}"] a[data-stream="{stream}"]')
        await link.wait_for(timeout=5000)
        await page.locator(f'#wall section.tile[data-stream="{stream}"]').click()
        await page.wait_for_url(f"{node.url}/streams/{stream}")
        focus = page.locator("#focus")

        async def decoded() -> int:
            return int(await focus.get_attribute("data-frames-decoded") or 0)

        first = await poll(decoded, lambda n: n > 0, 20, f"focus frames {errors}")
        await poll(decoded, lambda n: n > first, 5, "focus frames rising")
        assert await focus.get_attribute("data-state") == "live"

        async def stat(key: str) -> str:
            return (await page.locator(f'[data-stat="{key}"]').text_content() or "").strip()

        assert (await stat("codec")).lower() == "vp8 / opus"
        assert await stat("resolution") == RES
        for key in ("fps", "bitrate", "loss", "jitter", "decoded", "dropped", "rtt"):
            assert await stat(key) not in ("", NONE), key
        details = page.locator("#f-details")
        await poll(
            lambda: details.locator('[data-detail="county"]').text_content(),
            lambda s: s == "甲县",
            5,
            "station details",
        )
        assert await page.locator("#f-name").text_content() == "人民法院 第一法庭"
        assert await details.locator('[data-detail="kind"]').text_content() == "法庭"
        assert await page.locator("#f-rec").is_visible()

        # Sound after a click (autoplay policy).
        video = page.locator("#f-video")
        assert await video.evaluate("v => v.muted") is True
        await page.locator("#sound").click()
        assert await video.evaluate("v => v.muted") is False
        assert await video.evaluate("v => v.srcObject.getAudioTracks().length") == 1
        level = page.locator('[data-stat="audio"]')
        await page.locator('[data-stat="audio"][data-muted="false"]').wait_for(timeout=5000)
        await poll(
            lambda: level.locator("i").evaluate("i => parseFloat(i.style.width) || 0"),
            lambda w: w > 0,
            5,
            "audio level",
        )
        await page.screenshot(path="/tmp/focus-test.png")

        # Esc: back to the wall.
        await page.keyboard.press("Escape")
        await page.wait_for_url(f"{node.url}/")
        await _frames_rise(page, [stream], errors)
        assert not [e for e in errors if e.startswith("pageerror")], errors
        await _leave(page, node)
