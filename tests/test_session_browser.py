"""A hearing session run from the console in real Chromium (fake camera and microphone),
four browser contexts on one real node: the director creates, starts and runs the
session; the prosecutor terminal gets directions and the talk-back in its earpiece; a
courtroom display plays the court cameras and the city picture (and nothing private); an
observer watches and comments. The court's cameras are real aiortc WHIP publishers.
Also the pages over HTTP: the sections, the form, the 404 and the English."""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from playwright.async_api import Browser, Page

from camera_agents import WhipPublisher
from camera_agents.testsrc import PatternTrack, ToneTrack
from command_console.sessions import section_of
from signaling import USERS_KEY, Hearing

from .conftest import Node
from .console import PASSWORD, add_station, add_user, logged_in
from .test_browser import chromium, collect_errors, log_in, poll

COURT = ["court-a-wide", "court-a-judge"]


async def _people(node: Node) -> None:
    await add_station(node.app, "court-a", COURT, "甲县", "人民法院 第一法庭", "courtroom")
    await add_user(node.app, "director", "commander")
    await add_user(node.app, "obs", "observer")
    for name, county in (("pros-a", "甲县"), ("pros-b", "乙县")):
        await asyncio.to_thread(
            node.app[USERS_KEY].add, name, "prosecutor", PASSWORD, county=county
        )


@pytest.fixture
async def court(node: Node) -> AsyncIterator[list[WhipPublisher]]:
    """The courtroom's two cameras on air (small, to spare the CPU), sound on the wide one."""
    publishers = []
    try:
        for stream in COURT:
            tracks: Any = [PatternTrack(stream, fps=10, width=320, height=180)]
            if stream == COURT[0]:
                tracks.append(ToneTrack())
            publisher = WhipPublisher(node.whip(stream), node.token(stream), tracks)
            await publisher.start()
            publishers.append(publisher)
        yield publishers
    finally:
        for publisher in publishers:
            with contextlib.suppress(Exception):
                await publisher.stop()


async def _open(browser: Browser, node: Node, user: str, path: str) -> tuple[Page, list[str]]:
    """A browser context of its own, logged in through the form, on `path`."""
    context = await browser.new_context(viewport={"width": 1280, "height": 800})
    page = await context.new_page()
    errors = collect_errors(page)
    await page.goto(f"{node.url}{path}")
    await log_in(page, node.url, user)
    assert page.url == f"{node.url}{path}", page.url
    return page, errors


# The courtroom display: plain WHEP with viewer tokens, one <video> per stream.
DISPLAY = """async ([streamId, token]) => {
  const { whepSubscribe } = await import("/static/whep.js");
  window.display = window.display || {};
  const video = document.createElement("video");
  Object.assign(video, { autoplay: true, muted: true, playsInline: true });
  document.body.appendChild(video);
  try {
    window.display[streamId] = await whepSubscribe(streamId, token, {
      onTrack: (stream) => { video.srcObject = stream; },
    });
    return 201;
  } catch (error) {
    return error.status || 0;
  }
}"""
DISPLAY_FRAMES = """async () => {
  const out = {};
  for (const [id, s] of Object.entries(window.display || {})) {
    out[id] = 0;
    (await s.pc.getStats()).forEach((r) => {
      if (r.type === "inbound-rtp" && r.kind === "video") out[id] = r.framesDecoded || 0;
    });
  }
  return out;
}"""
TILE_FRAMES = """() => Object.fromEntries([...document.querySelectorAll("#thumbs section.tile")]
  .map((t) => [t.dataset.stream, Number(t.dataset.framesDecoded || 0)]))"""
# An incoming audio channel (the prosecutor's "earpiece", the director's "reply"):
# inbound audio packets and level.
HEARD = """async (channel) => {
  const live = window.hearing[channel] && window.hearing[channel].live;
  const out = { packets: 0, level: 0, state: live ? live.state : "none" };
  if (!live || !live.session) return out;
  (await live.session.pc.getStats()).forEach((r) => {
    if (r.type === "inbound-rtp" && r.kind === "audio") {
      out.packets = r.packetsReceived || 0;
      out.level = r.audioLevel || 0;
    }
  });
  return out;
}"""
# A try from the observer's page, with its own session and CSRF header.
POST = """async ([path, body]) => {
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const r = await fetch(path, { method: "POST", body: JSON.stringify(body),
    headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf } });
  return r.status;
}"""


@pytest.mark.browser
@pytest.mark.slow
async def test_a_session_directed_from_the_console_reaches_each_part_and_no_one_else(
    node: Node, court: list[WhipPublisher], chromium_path: str
) -> None:
    await _people(node)
    async with chromium(chromium_path) as browser:
        # The director creates the session with the form, then starts it.
        director, d_errors = await _open(browser, node, "director", "/sessions")
        form = director.locator("#new-session")
        await form.locator('select[name="kind"]').select_option("direction")
        await form.locator('select[name="station"]').select_option("court-a")
        await form.locator('input[name="title"]').fill("张某等十四人案庭审 <i>")
        await form.locator('input[name="case_no"]').fill("甲检刑诉〔2026〕12号")
        await form.locator('.participant input[name="user"]').fill("pros-a")
        await form.locator("#add-participant").click()
        await form.locator('.participant input[name="user"]').nth(1).fill("obs")
        await form.locator('.participant select[name="part"]').nth(1).select_option("observer")
        await director.screenshot(path="/tmp/session-new.png", full_page=True)
        await form.locator("#create-session").click()
        await director.wait_for_url(re.compile(r".*/sessions/s\d{8}-[0-9a-f]{6}$"))
        sid = director.url.rsplit("/", 1)[1]
        assert await director.locator("#h-title").text_content() == "张某等十四人案庭审 <i>"
        await director.locator("#start").click()
        await director.locator('#hearing[data-state="live"][data-ready="true"]').wait_for()
        page_path = f"/sessions/{sid}"

        prosecutor, p_errors = await _open(browser, node, "pros-a", page_path)
        observer, o_errors = await _open(browser, node, "obs", page_path)
        errors = {"director": d_errors, "prosecutor": p_errors, "observer": o_errors}
        for page in (director, prosecutor, observer):
            await page.locator('#events-state[data-state="open"]').wait_for(timeout=5000)

        # The director publishes the city picture; the court cameras play at the director.
        await director.locator("#city-toggle").click()
        await director.locator('#city[data-state="connected"]').wait_for(timeout=15000)
        await poll(
            lambda: director.evaluate(TILE_FRAMES),
            lambda f: all(f.get(s, 0) > 0 for s in COURT),
            20,
            f"the director's court pictures {errors}",
        )
        await director.locator(
            f'#thumbs section.tile[data-stream="{COURT[0]}"][data-recording="true"]'
        ).wait_for(timeout=5000)
        assert await director.locator("#main").get_attribute("data-stream") == COURT[0]
        await director.locator(f'#thumbs section.tile[data-stream="{COURT[1]}"]').click()
        assert await director.locator("#main").get_attribute("data-stream") == COURT[1]
        assert re.fullmatch(r"\d\d:\d\d:\d\d", await director.locator("#clock").inner_text())

        # The courtroom display decodes the court cameras and the city picture, with
        # viewer tokens for those; talk-back is refused it.
        display = await (await browser.new_context()).new_page()
        await display.goto(f"{node.url}/healthz")
        for stream in (COURT[0], f"{sid}-city"):
            assert await display.evaluate(DISPLAY, [stream, node.token(stream, "viewer")]) == 201
        await poll(
            lambda: display.evaluate(DISPLAY_FRAMES),
            lambda f: len(f) == 2 and min(f.values()) > 0,
            20,
            "the display's pictures",
        )
        talkback = f"{sid}-talkback"
        refused = await display.evaluate(DISPLAY, [talkback, node.token(COURT[0], "viewer")])
        assert refused == 403

        # Talk-back: pre-connected, on air only while held, heard at the prosecutor only.
        await director.locator('#talkback[data-channel="ready"]').wait_for(timeout=15000)
        await poll(
            lambda: prosecutor.evaluate(HEARD, "earpiece"),
            lambda e: e["state"] in ("connecting", "live"),
            10,
            f"the earpiece connected {errors}",
        )
        button = director.locator("#talkback-button")
        await button.hover()
        await director.mouse.down()
        await director.locator('#talkback[data-on-air="true"]').wait_for(timeout=2000)
        assert await button.text_content() == "通话中"
        heard = await poll(
            lambda: prosecutor.evaluate(HEARD, "earpiece"),
            lambda e: e["packets"] > 0 and e["level"] > 0,
            10,
            f"talk-back in the earpiece {errors}",
        )
        assert heard["packets"] > 0
        await director.mouse.up()
        await director.locator('#talkback[data-on-air="false"]').wait_for(timeout=2000)
        listeners = {s.stream_id: s.viewers for s in node.gateway.streams()}
        assert listeners[talkback] == 1  # the prosecutor terminal, no one else
        assert await observer.evaluate("window.hearing.earpiece === undefined")

        # … and the reply, the other way: held at the terminal, heard by the director.
        await prosecutor.locator('#reply[data-channel="ready"]').wait_for(timeout=15000)
        await prosecutor.locator("#reply-button").hover()
        await prosecutor.mouse.down()
        await prosecutor.locator('#reply[data-on-air="true"]').wait_for(timeout=2000)
        await poll(
            lambda: director.evaluate(HEARD, "reply"),
            lambda e: e["packets"] > 0 and e["level"] > 0,
            10,
            f"the reply at the director {errors}",
        )
        await prosecutor.mouse.up()
        await prosecutor.locator('#reply[data-on-air="false"]').wait_for(timeout=2000)

        # A direction: at the prosecutor terminal within a second, its receipt back.
        await director.locator("#direction-text").fill("请就证据三发问 <script>x</script>")
        await director.locator("#direction-urgent").check()
        sent = time.monotonic()
        await director.locator("#direction-send").click()
        arrived = prosecutor.locator("#direction-list li.urgent")
        await arrived.wait_for(timeout=1000)
        assert time.monotonic() - sent < 1.0
        assert await arrived.locator(".text").text_content() == "请就证据三发问 <script>x</script>"
        await director.locator('#direction-list li[data-read="true"]').wait_for(timeout=5000)
        receipt = await director.locator("#direction-list li .receipt").text_content() or ""
        assert receipt.startswith("已读 ")
        assert await observer.locator("#direction-list").count() == 0

        # An observer's comment reaches the director live, as text.
        await observer.locator("#comment-text").fill("<b>发问有力</b>")
        await observer.locator("#comment-post").click()
        comment = director.locator("#comment-list li.comment")
        await comment.wait_for(timeout=5000)
        assert await comment.locator(".text").text_content() == "<b>发问有力</b>"
        assert await comment.locator(".text b").count() == 0
        assert await comment.locator("b").text_content() == "obs"

        # What an observer may not do, the server refuses.
        base = f"/api/sessions/{sid}"
        for path, body in (
            (f"{base}/directions", {"text": "x"}),
            (f"{base}/media", {"direction": "publish", "stream": "city"}),
            (f"{base}/media", {"direction": "publish", "stream": "talkback"}),
            (f"{base}/media", {"direction": "view", "stream": "talkback"}),
        ):
            assert await observer.evaluate(POST, [path, body]) == 403, path

        await director.screenshot(path="/tmp/session-director.png", full_page=True)
        await prosecutor.screenshot(path="/tmp/session-prosecutor.png")
        await observer.screenshot(path="/tmp/session-observer.png")

        # The end, and the director's evaluation.
        await director.locator("#end").click()
        await director.locator("#end").click()
        await director.locator('#hearing[data-state="ended"]').wait_for(timeout=5000)
        await prosecutor.locator('#hearing[data-state="ended"]').wait_for(timeout=5000)
        await director.locator("#evaluation-text").fill("指挥及时 出庭效果良好")
        await director.locator("#evaluation-save").click()
        await director.locator("#evaluation-state").filter(has_text="评估已保存").wait_for()
        for who, errs in errors.items():
            assert not [e for e in errs if e.startswith("pageerror")], (who, errs)
        for page in (director, prosecutor, observer, display):
            await page.goto("about:blank")


async def test_the_pages_show_sections_a_form_for_creators_and_404_for_others(
    node: Node,
) -> None:
    await _people(node)
    async with logged_in(node.url, "director") as c:
        page = await c.get("/sessions")
        assert page.status == 200 and 'id="new-session"' in page.text
        assert 'value="court-a"' in page.text
        answer = await c.post(
            "/api/sessions",
            data='{"kind": "direction", "station": "court-a", "title": "<b>t</b>",'
            ' "case_no": "c1", "participants": [{"user": "pros-a", "part": "prosecutor"}]}',
        )
        assert answer.status == 201, answer.text
        sid = answer.text.split('"id": "', 1)[1].split('"', 1)[0]
        page = await c.get("/sessions")
        assert 'data-section="today"' in page.text and f'data-start="{sid}"' in page.text
        assert "&lt;b&gt;t&lt;/b&gt;" in page.text and "<b>t</b>" not in page.text
        own = await c.get(f"/sessions/{sid}")
        assert own.status == 200 and 'id="start"' in own.text and "开始会话" in own.text
        english = await c.get(f"/sessions/{sid}?lang=en")
        assert "Start the session" in english.text and "开始会话" not in english.text
    async with logged_in(node.url, "pros-a") as c:
        page = await c.get("/sessions")
        assert 'id="new-session"' not in page.text and 'data-start="' not in page.text
        own = await c.get(f"/sessions/{sid}")
        assert own.status == 200 and 'id="inbox"' in own.text and 'id="start"' not in own.text
    async with logged_in(node.url, "pros-b") as c:
        other = await c.get(f"/sessions/{sid}")
        assert other.status == 404 and f"没有会话 {sid}" in other.text
        other = await c.get("/sessions/nothing-here?lang=en")
        assert other.status == 404 and "No session nothing-here" in other.text


def test_sessions_fall_into_live_today_upcoming_and_ended() -> None:
    now = datetime(2026, 3, 2, 10, 0, tzinfo=UTC).astimezone()
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)

    def hearing(state: Any, scheduled: datetime | None = None) -> Hearing:
        return Hearing(
            id="s1",
            kind="direction",
            title="t",
            case_no="c",
            station="court-a",
            county="甲县",
            state=state,
            created_by="director",
            created_at=now,
            scheduled_for=scheduled,
            started_at=None,
            ended_at=None,
            evaluation=None,
        )

    assert section_of(hearing("live"), now) == "live"
    assert section_of(hearing("ended"), now) == section_of(hearing("sealed"), now) == "ended"
    assert section_of(hearing("scheduled"), now) == "today"  # any time
    assert section_of(hearing("scheduled", now - timedelta(days=2)), now) == "today"  # overdue
    assert section_of(hearing("scheduled", midnight + timedelta(hours=23)), now) == "today"
    assert section_of(hearing("scheduled", midnight + timedelta(days=1)), now) == "upcoming"
