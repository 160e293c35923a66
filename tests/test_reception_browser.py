"""A petition reception's call in real Chromium (fake camera and microphone), one browser
on one real node: kiosks in two counties queue their petitioners; the receptionist takes
the first; the kiosk and the receptionist decode each other's picture and hear each
other; both streams are recorded, bound to the reception's session, and ffprobe reads
them; closing the reception with its outcome ends the call on both sides; the second
kiosk sees its place move up, then its petitioner leaves mid-call (the receptionist sees
it); a revoked kiosk link shows as such on the kiosk."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, Page

from command_console.i18n import MESSAGES
from recorder import manifest as mf
from signaling import RECORDER_KEY

from .conftest import Node
from .console import logged_in
from .test_browser import chromium, collect_errors, log_in, poll
from .test_reception import _setup
from .test_recorder import ffprobe

pytestmark = [pytest.mark.browser, pytest.mark.slow]
ZH = {key: zh for key, (zh, _) in MESSAGES.items()}

# A call's incoming side: decoded frames and audio packets of its WHEP peer, and the
# <video>'s own picture (size, frames shown so far).
CALL_STATS = """async (where) => {
  const call = where === "kiosk" ? window.kiosk.call
    : [...window.reception.calls.values()][0];
  const out = { frames: 0, audio: 0, width: 0, shown: 0 };
  if (!call || !call.viewer) return out;
  (await call.viewer.pc.getStats()).forEach((r) => {
    if (r.type === "inbound-rtp" && r.kind === "video") out.frames = r.framesDecoded || 0;
    if (r.type === "inbound-rtp" && r.kind === "audio") out.audio = r.packetsReceived || 0;
  });
  out.width = call.remote.videoWidth;
  out.shown = call.remote.getVideoPlaybackQuality().totalVideoFrames;
  return out;
}"""


async def _kiosk(browser: Browser, node: Node, station: str, token: str) -> tuple[Page, list[str]]:
    context = await browser.new_context(viewport={"width": 1024, "height": 640})
    page = await context.new_page()
    errors = collect_errors(page)
    await page.goto(f"{node.url}/kiosk/{station}?token={token}")
    return page, errors


async def _queue(page: Page, name: str) -> None:
    await page.locator('input[name="name"]').fill(name)
    await page.locator('input[name="contact"]').fill("13800000000")
    await page.locator('input[name="subject"]').fill("讨薪")
    await page.locator('#kiosk-form button[type="submit"]').click()


async def _decodes(page: Page, where: str, what: str) -> None:
    """The other side's picture decodes and advances, and its sound arrives."""
    first = await poll(
        lambda: page.evaluate(CALL_STATS, where),
        lambda s: s["frames"] > 0 and s["audio"] > 0 and s["width"] > 0 and s["shown"] > 0,
        20,
        what,
    )
    await poll(
        lambda: page.evaluate(CALL_STATS, where),
        lambda s: s["shown"] > first["shown"] + 5 and s["audio"] > first["audio"],
        10,
        f"{what}: advancing",
    )


def _bound(data_dir: Path, stream: str, session: str) -> list[mf.Manifest]:
    found = [mf.load(d) for d in (data_dir / "recordings").iterdir() if (d / mf.MANIFEST).is_file()]
    return [m for m in found if m.stream == stream and m.session == session]


async def test_a_kiosk_and_a_receptionist_talk_both_ways_recorded_and_the_close_ends_it(
    node: Node, chromium_path: str, tmp_path: Path
) -> None:
    tokens = await _setup(node)
    recorder = node.app[RECORDER_KEY]
    data_dir = tmp_path / "var"
    async with chromium(chromium_path) as browser:
        kiosk_a, a_errors = await _kiosk(browser, node, "recv-a", tokens["recv-a"])
        kiosk_b, b_errors = await _kiosk(browser, node, "recv-b", tokens["recv-b"])
        await _queue(kiosk_a, "甲")
        await kiosk_a.locator("#kiosk-place", has_text="第 1 位").wait_for()
        await _queue(kiosk_b, "乙")
        await kiosk_b.locator("#kiosk-place", has_text="第 2 位").wait_for()

        context = await browser.new_context(viewport={"width": 1280, "height": 900})
        desk = await context.new_page()
        d_errors = collect_errors(desk)
        await desk.goto(f"{node.url}/reception")
        await log_in(desk, node.url, "r1")
        errors = {"kiosk a": a_errors, "kiosk b": b_errors, "receptionist": d_errors}
        rows = desk.locator("#reception-queue tbody tr")
        await rows.nth(1).wait_for()
        ticket = await rows.nth(0).get_attribute("data-ticket")
        assert ticket is not None
        started = time.monotonic()
        await rows.nth(0).locator("button").click()
        card = desk.locator(f'#reception-mine [data-ticket="{ticket}"]')
        await card.wait_for()

        # Both sides: the call view, each decoding the other's picture and hearing them.
        await kiosk_a.locator('#kiosk[data-state="call"]').wait_for(timeout=10000)
        assert await kiosk_a.locator("#kiosk-call").is_visible()
        sid = await kiosk_a.locator("#kiosk").get_attribute("data-session")
        assert sid is not None
        await _decodes(kiosk_a, "kiosk", f"the kiosk plays the receptionist {errors}")
        await _decodes(desk, "desk", f"the receptionist plays the kiosk {errors}")
        await kiosk_a.locator('#kiosk-call[data-view="live"][data-publish="live"]').wait_for()
        assert await kiosk_a.locator("#call-state").inner_text() == ZH["kiosk.call_live"]
        assert await card.locator(".call-state").inner_text() == ZH["reception.call_live"]
        call_seconds = time.monotonic() - started
        await kiosk_a.screenshot(path="/tmp/kiosk-call.png")
        await desk.screenshot(path="/tmp/reception-call.png", full_page=True)
        await kiosk_b.locator("#kiosk-place", has_text="第 1 位").wait_for(timeout=5000)

        # Both streams are recorded, bound to the reception's session.
        streams = ["recv-a-cam", f"{sid}-city"]

        def recording() -> bool:
            for stream in streams:
                active = recorder.active.get(stream)
                if active is None or active.manifest.session != sid:
                    return False
            return True

        await poll(lambda: asyncio.sleep(0, recording()), bool, 10, "both streams recording")

        # The outcome closes the reception: both sides leave the call.
        form = card.locator("form.outcome")
        await form.locator('input[name="matter"]').fill("讨薪")
        await form.locator('textarea[name="reply"]').fill("已转劳动监察部门")
        await form.locator('button[type="submit"]').click()
        await card.wait_for(state="detached", timeout=5000)
        assert await desk.evaluate("window.reception.calls.size") == 0
        await kiosk_a.locator('#kiosk[data-state="form"]').wait_for(timeout=5000)
        await kiosk_a.screenshot(path="/tmp/kiosk-thanks.png")
        assert await kiosk_a.locator("#kiosk-thanks").inner_text() == ZH["kiosk.thanks"]
        assert await kiosk_a.evaluate("window.kiosk.call") is None
        assert not await kiosk_a.locator("#kiosk-call").is_visible()

        # The second kiosk's petitioner: accepted, then leaves mid-call.
        second = desk.locator("#reception-queue tbody tr").nth(0)
        await second.locator("button").click()
        await kiosk_b.locator('#kiosk[data-state="call"]').wait_for(timeout=10000)
        await kiosk_b.locator('#kiosk-call[data-publish="live"]').wait_for(timeout=15000)
        await kiosk_b.locator("#call-leave").click()
        await kiosk_b.locator('#kiosk[data-state="form"]').wait_for(timeout=5000)
        assert await kiosk_b.locator("#kiosk-thanks").inner_text() == ZH["kiosk.left"]
        left = desk.locator('#reception-mine [data-left="true"] .call-left')
        await left.wait_for(timeout=5000)
        assert await left.inner_text() == ZH["reception.left_call"]

        # The admin revokes the link on the station's page; the kiosk says so at its
        # next request. A new link made there works at once (shown this once).
        admin = await (await browser.new_context()).new_page()
        await admin.goto(f"{node.url}/admin/stations/recv-b")
        await log_in(admin, node.url, "admin")
        panel = admin.locator('#kiosk-link[data-link="current"]')
        await panel.wait_for()
        assert "admin" in await admin.locator("#kiosk-link-state").inner_text()
        await admin.locator("#kiosk-link-revoke").click()
        await admin.locator('#kiosk-link[data-link="none"]').wait_for()
        assert await admin.locator("#kiosk-link-state").inner_text() == ZH["kiosk_link.revoked"]
        await _queue(kiosk_b, "丙")
        await kiosk_b.locator("#kiosk-revoked").wait_for(timeout=5000)
        assert "已被撤销" in await kiosk_b.locator("#kiosk-revoked").inner_text()
        assert not await kiosk_b.locator("#kiosk-form").is_visible()
        await admin.locator("#kiosk-link-make").click()
        await admin.locator('#kiosk-link[data-link="current"]').wait_for()
        link = await admin.locator("#kiosk-link-url").input_value()
        assert link.startswith(f"{node.url}/kiosk/recv-b?token=")
        kiosk_c, _ = await _kiosk(browser, node, "recv-b", link.rsplit("=", 1)[1])
        await _queue(kiosk_c, "丙")
        await kiosk_c.locator("#kiosk-place", has_text="第 1 位").wait_for()
        thrown = [e for page in errors.values() for e in page if e.startswith("pageerror")]
        assert thrown == []

    # The recordings of both streams are closed, bound to the session, listed with it,
    # and readable: the kiosk's and the receptionist's picture and sound each.
    def closed() -> bool:
        return all(
            any(m.state == "closed" and m.segments for m in _bound(data_dir, s, sid))
            for s in streams
        )

    await poll(lambda: asyncio.sleep(0, closed()), bool, 15, "both recordings closed")
    for stream in streams:
        for m in _bound(data_dir, stream, sid):
            kinds: set[Any] = set()
            for seg in m.segments:
                probe = ffprobe(data_dir / "recordings" / m.recording_id / seg.file)
                kinds |= {s["codec_type"] for s in probe["streams"]}
                assert float(probe["format"]["duration"]) > 0
            assert kinds == {"video", "audio"}, (stream, kinds)
    async with logged_in(node.url, "r1") as r1:

        async def listed() -> set[str]:
            body = await r1.json(f"/api/sessions/{sid}")
            return {r["stream"] for r in body["recordings"]}

        await poll(listed, lambda found: found == set(streams), 10, "the session's recordings")

        # Closing ended it; once its recordings closed it is sealed, as an interrogation.
        async def state() -> Any:
            return (await r1.json(f"/api/sessions/{sid}"))["state"]

        await poll(state, lambda s: s == "sealed", 25, "the reception sealed")
        body = json.loads((await r1.get(f"/api/sessions/{sid}")).text)
        assert body["kind"] == "reception"
    print(f"call up and decoding both ways in {call_seconds:.1f}s")
