"""The interrogation record typed in real Chromium: the clerk's text survives a reload
mid-typing (before the autosave fires) and a page that dies without sending anything,
and is saved afterwards; a save on a stale version asks the clerk, keeping their text;
the director reads the record live; once sealed, the page only shows it."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from playwright.async_api import Browser, Page

from signaling import HEARINGS_KEY

from .conftest import Node
from .console import Console, add_station, add_user, logged_in
from .test_browser import chromium, collect_errors, log_in
from .waiting import wait_for

DRAFT = "(sid) => localStorage.getItem(`vdispatch.record.${sid}`)"
# The page dies without a word: no save on blur, hide or pagehide.
CRASH = "() => { const r = window.hearing.record; r.flush = () => {}; r.saveNow = () => {}; }"


async def _open(browser: Browser, node: Node, user: str, path: str) -> tuple[Page, list[str]]:
    context = await browser.new_context(viewport={"width": 1280, "height": 800})
    page = await context.new_page()
    errors = collect_errors(page)
    await page.goto(f"{node.url}{path}")
    await log_in(page, node.url, user)
    assert page.url == f"{node.url}{path}", page.url
    return page, errors


async def _record(c: Console, sid: str) -> dict[str, Any]:
    answer = await c.get(f"/api/sessions/{sid}/record")
    assert answer.status == 200, answer.text
    return json.loads(answer.text)  # type: ignore[no-any-return]


async def _saved(page: Page, version: int) -> None:
    await page.locator(f'#record[data-state="saved"][data-version="{version}"]').wait_for(
        timeout=10000
    )


@pytest.mark.browser
async def test_the_record_survives_a_reload_mid_typing_and_a_crash(
    node: Node, chromium_path: str
) -> None:
    await add_station(
        node.app, "room-a", ["room-a-wide"], "甲县", "看守所 提讯室", "interrogation_room"
    )
    await add_user(node.app, "director", "commander")
    await add_user(node.app, "clerk", "clerk")
    async with logged_in(node.url, "director") as director_api:
        answer = await director_api.post(
            "/api/sessions",
            data=json.dumps(
                {
                    "kind": "interrogation",
                    "station": "room-a",
                    "title": "李某盗窃案提讯",
                    "case_no": "甲检刑捕〔2026〕7号",
                    "participants": [{"user": "clerk", "part": "clerk"}],
                }
            ),
        )
        assert answer.status == 201, answer.text
        sid = json.loads(answer.text)["id"]
        # Live through the store: this test is about the record; the start gate (every
        # stream recording first) has its own, in tests/test_seal.py.
        await asyncio.to_thread(node.app[HEARINGS_KEY].transition, sid, "live", "user:director")
        path = f"/sessions/{sid}"

        async with chromium(chromium_path) as browser:
            clerk, c_errors = await _open(browser, node, "clerk", path)
            director, d_errors = await _open(browser, node, "director", path)
            await _saved(clerk, 0)
            await director.locator('#events-state[data-state="open"]').wait_for(timeout=5000)
            assert await director.locator("#record-text").count() == 0  # read-only view

            # Typing, then a reload before the autosave's second has passed.
            box = clerk.locator("#record-text")
            first = "问 你叫什么名字\n答 李某 <b>不是标签</b>"
            await box.fill(first)
            assert json.loads(await clerk.evaluate(DRAFT, sid))["text"] == first
            assert await clerk.locator("#record").get_attribute("data-state") == "dirty"
            await clerk.reload()
            await _saved(clerk, 1)
            assert await box.input_value() == first
            assert (await _record(director_api, sid))["text"] == first
            assert await clerk.evaluate(DRAFT, sid) is None  # saved: no draft left
            view = director.locator("#record-view")
            await director.locator('#record[data-version="1"]').wait_for(timeout=5000)
            assert await view.text_content() == first
            assert await view.locator("b").count() == 0

            # A page that dies without sending anything: the draft alone brings it back.
            await clerk.evaluate(CRASH)
            second = first + "\n问 案发当天你在哪里\n答 在家"
            await box.fill(second)
            await clerk.wait_for_function(
                "([sid, t]) => (JSON.parse(localStorage.getItem(`vdispatch.record.${sid}`))"
                " || {}).text === t",
                arg=[sid, second],
            )
            assert (await _record(director_api, sid))["version"] == 1  # nothing sent
            await clerk.reload()
            await _saved(clerk, 2)
            assert await box.input_value() == second
            latest = await _record(director_api, sid)
            assert latest["text"] == second and latest["saved_by"] == "clerk"

            # Saved elsewhere meanwhile (version 3; this page misses the event) while this
            # page types on version 2: the 409 keeps the clerk's text and asks.
            await clerk.evaluate("() => { window.hearing.record.changed = () => {}; }")
            async with logged_in(node.url, "clerk") as other:
                answer = await other.request(
                    "PUT",
                    f"/api/sessions/{sid}/record",
                    data=json.dumps({"text": second + "\n另一窗口的记录", "base_version": 2}),
                )
                assert answer.status == 201, answer.text
            mine = second + "\n问 还有什么要说的"
            await box.fill(mine)
            await clerk.locator('#record[data-state="conflict"]').wait_for(timeout=10000)
            assert await box.input_value() == mine
            assert "另一窗口的记录" in (await clerk.locator("#record-theirs").text_content() or "")
            await clerk.locator("#record-keep-mine").click()
            await _saved(clerk, 4)
            assert (await _record(director_api, sid))["text"] == mine
            await director.locator('#record[data-version="4"]').wait_for(timeout=5000)
            await clerk.screenshot(path="/tmp/record-clerk.png", full_page=True)

            # Sealed: the clerk's page shows the record, and has no editor.
            # Ending an interrogation seals it (no recordings here: at once).
            assert (await director_api.post(f"/api/sessions/{sid}/end", data="{}")).status == 200
            await wait_for(
                lambda: asyncio.to_thread(node.app[HEARINGS_KEY].get, sid),
                lambda h: h is not None and h.state == "sealed",
                what="the session sealed",
                timeout=30,
            )
            # The page reloads itself on session.sealed.
            await clerk.locator('#hearing[data-state="sealed"]').wait_for(timeout=10000)
            await clerk.locator('#record[data-mode="read"][data-version="4"]').wait_for()
            assert await clerk.locator("#record-view").text_content() == mine
            assert await clerk.locator("#record-text").count() == 0
            for who, errs in (("clerk", c_errors), ("director", d_errors)):
                assert not [e for e in errs if e.startswith("pageerror")], (who, errs)
            for page in (clerk, director):
                await page.goto("about:blank")
