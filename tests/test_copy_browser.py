"""The evidence copy panel in real Chromium, as an auditor logged in through the form: a
sealed interrogation's archive page shows the copy done with its download; rendered
again from the page, the bar follows the render's progress live (session.copy events)
until the download link is back, and the downloaded bytes hash to the sha256 shown."""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from .conftest import Node
from .console import logged_in
from .test_browser import chromium, collect_errors, log_in
from .test_evidence_copy_job import _people, _start_node, seal_interrogation, wait_state

pytestmark = [pytest.mark.browser, pytest.mark.slow]

# What the panel shows, sampled every 20 ms in the page.
WATCH = """() => {
  window.copySeen = [];
  setInterval(() => {
    const root = document.getElementById("copy");
    const bar = document.getElementById("copy-progress");
    window.copySeen.push({ state: root.dataset.state, value: bar.value,
                           link: !document.getElementById("copy-done").hidden });
  }, 20);
}"""


@pytest.fixture
async def node(tmp_path: Path) -> AsyncIterator[Node]:
    async for n in _start_node(tmp_path):
        yield n


async def test_the_archive_page_follows_the_copy_and_its_download_hashes_right(
    node: Node, chromium_path: str, tmp_path: Path
) -> None:
    await _people(node)
    async with logged_in(node.url, "director") as director:
        sid = await seal_interrogation(node, director, segments=4)
    first = await wait_state(node, sid, "done", "failed")
    assert first.state == "done", first.error
    async with chromium(chromium_path) as browser:
        context = await browser.new_context(accept_downloads=True)
        page = await context.new_page()
        errors = collect_errors(page)
        path = f"/archive/sessions/{sid}"
        await page.goto(f"{node.url}{path}")
        await log_in(page, node.url, "aud")
        await page.wait_for_url(re.compile(re.escape(path)))
        panel = page.locator("#copy")
        assert "证据副本" in await panel.inner_text()
        await page.locator('#copy[data-state="done"]').wait_for(timeout=5000)
        assert await page.locator("#copy-sha256").inner_text() == first.sha256
        await page.evaluate(WATCH)
        await page.evaluate("document.getElementById('copy-statement').textContent = ''")
        await page.locator("#copy-rerender").click()
        await page.locator('#copy[data-state="rendering"]').wait_for(timeout=30000)
        await page.locator('#copy[data-state="done"]').wait_for(timeout=120000)
        await page.locator("#copy-download").wait_for(state="visible", timeout=5000)
        seen = await page.evaluate("window.copySeen")
        states = [s["state"] for s in seen]
        assert "rendering" in states and states[-1] == "done", sorted(set(states))
        rendering = [s["value"] for s in seen if s["state"] == "rendering"]
        assert rendering == sorted(rendering), rendering
        assert any(0 < v < 1 for v in rendering), sorted(set(rendering))
        assert not any(s["link"] for s in seen if s["state"] == "rendering")
        # The statement is the signed record's, filled in once done (events carry none).
        statement = page.locator("#copy-statement")
        assert "衍生" in await statement.inner_text()
        shown = await page.locator("#copy-sha256").inner_text()
        async with page.expect_download() as info:
            await page.locator("#copy-download").click()
        download = await info.value
        saved = tmp_path / "copy.mp4"
        await download.save_as(saved)
        data = await asyncio.to_thread(saved.read_bytes)
        assert hashlib.sha256(data).hexdigest() == shown
        again = await wait_state(node, sid, "done")
        assert shown == again.sha256 and len(data) == again.bytes
        assert not [e for e in errors if "pageerror" in e], errors
