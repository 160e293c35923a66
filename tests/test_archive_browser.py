"""The archive in real Chromium, logged in through the real form as an auditor: a
recording plays across a segment boundary without a seam, two recordings of the same
period play in step (within 200 ms by wall clock), the coverage timeline shows where the
publisher was away, and the audit log lists what was viewed."""

from __future__ import annotations

import asyncio
import itertools
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Page

from catalog.schema import parse_iso
from recorder import manifest as mf
from signaling import ARCHIVE_KEY

from .archive_site import Site, archive_site
from .catalogs import copy_recording
from .test_browser import chromium, collect_errors, log_in, poll

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture
async def site(tmp_path: Path, recording_template: Path, gap_template: Path) -> AsyncIterator[Site]:
    async with archive_site(tmp_path / "var", recording_template, gap_template) as s:
        yield s


def seg_starts(site: Site, name: str) -> list[float]:
    """Segment wall-clock starts (ms) from the manifest on disk."""
    manifest = mf.load(site.data_dir / "recordings" / site.ids[name])
    return [parse_iso(s.start).timestamp() * 1000 for s in manifest.segments]


async def open_as_auditor(page: Page, site: Site, path: str) -> None:
    await page.goto(f"{site.url}{path}")
    assert "/login" in page.url
    await log_in(page, site.url, "auditor")
    await page.wait_for_url(re.compile(re.escape(path.split("?")[0])))


async def player_ready(page: Page) -> None:
    await page.wait_for_function("() => window.vdPlayer !== undefined", timeout=15000)


# Samples every recording's wall-clock position (and the segment shown) each animation
# frame for `ms`, in the page: one instant per sample.
SAMPLE = """async (ms) => {
  const out = [];
  const until = performance.now() + ms;
  while (performance.now() < until) {
    await new Promise((r) => requestAnimationFrame(r));
    out.push({
      t: performance.now(),
      pos: window.vdPlayer.tracks.map((t) => t.position()),
      seg: window.vdPlayer.tracks.map((t) => t.current >= 0 ? t.segments[t.current].index : 0),
      paused: window.vdPlayer.tracks.map((t) => t.frontVideo.paused),
    });
  }
  return out;
}"""


@pytest.mark.parametrize("name", ["court", "h264"])
async def test_a_recording_plays_across_segment_boundaries(
    site: Site, chromium_path: str, h264_template: Path, name: str
) -> None:
    if name == "h264":  # MP4 segments (H.264), cataloged as the recorder would
        site.ids[name] = "court-h264"
        directory = await asyncio.to_thread(
            copy_recording, h264_template, site.data_dir, "court-h264", stream="county-a-court"
        )
        catalog = site.app[ARCHIVE_KEY].catalog
        await asyncio.to_thread(catalog.upsert_from_manifest, directory)
    starts = seg_starts(site, name)
    boundary = starts[2]  # segment 3 begins here
    async with chromium(chromium_path) as browser:
        page = await browser.new_page()
        errors = collect_errors(page)
        await open_as_auditor(page, site, f"/archive/{site.ids[name]}")
        await player_ready(page)
        await page.evaluate("(wall) => window.vdPlayer.seek(wall)", boundary - 1200)
        await page.locator("#playpause").click()
        samples: list[dict[str, Any]] = await page.evaluate(SAMPLE, 3500)
        positions = [(s["t"], s["pos"][0], s["seg"][0]) for s in samples if s["pos"][0]]
        assert positions, errors
        assert positions[0][1] < boundary < positions[-1][1], (positions[0], positions[-1])
        assert {2, 3} <= {seg for _, _, seg in positions}, errors
        # Played on, not stuck: wall clock advances with real time across the boundary.
        walls = [p for _, p, _ in positions]
        assert all(b >= a - 1 for a, b in itertools.pairwise(walls)), "went back"
        gaps = [(b[1] - a[1]) for a, b in itertools.pairwise(positions)]
        assert max(gaps) < 250, f"a jump of {max(gaps):.0f} ms"
        elapsed = positions[-1][0] - positions[0][0]
        advanced = positions[-1][1] - positions[0][1]
        assert advanced > 0.8 * elapsed, (advanced, elapsed)
        # The wall-clock display follows, and the seek bar seeks by wall clock.
        shown = int(await page.locator("#position").get_attribute("data-wall") or 0)
        assert abs(shown - walls[-1]) < 1000
        bar = await page.locator("#seekbar").bounding_box()
        assert bar is not None
        await page.mouse.click(bar["x"] + bar["width"] * 0.1, bar["y"] + bar["height"] / 2)
        await asyncio.sleep(0.5)
        wall = await page.evaluate("() => window.vdPlayer.tracks[0].position()")
        assert starts[0] <= wall < starts[2], (wall, starts)
        assert not [e for e in errors if "pageerror" in e], errors

        # Every view is in the audit log: the page and the segments it played.
        await page.goto(f"{site.url}/audit")
        assert await page.locator('#chain[data-ok="true"]').count() == 1
        rows = page.locator("#audit tbody tr")
        texts = await rows.all_inner_texts()
        actions = await rows.evaluate_all("rows => rows.map(r => r.dataset.action)")
        seen = list(zip(actions, texts, strict=True))
        # The action's label is translated (查看录像 …); the row keeps its code.
        assert any(a == "recording.view" and "user:auditor" in t for a, t in seen)
        assert any(
            a == "segment.view" and "回放分段" in t and f"{site.ids[name]}/segments/3" in t
            for a, t in seen
        )
    catalog = site.app[ARCHIVE_KEY].catalog
    viewed = await asyncio.to_thread(catalog.audit_rows, "user:auditor", "segment.view")
    assert {r["target"].rsplit("/", 1)[1] for r in viewed} >= {"2", "3"}


async def test_two_recordings_play_in_sync(site: Site, chromium_path: str) -> None:
    court, room = site.ids["court"], site.ids["room"]
    court_starts = seg_starts(site, "court")
    async with chromium(chromium_path) as browser:
        page = await browser.new_page()
        errors = collect_errors(page)
        await open_as_auditor(page, site, f"/archive/sync?id={court}&id={room}")
        await player_ready(page)
        assert await page.locator("figure.screen").count() == 2
        # From half a second into the later recording: both have pictures from here.
        await page.evaluate("(wall) => window.vdPlayer.seek(wall)", court_starts[0] + 500)
        await page.locator("#playpause").click()
        await poll(
            lambda: page.evaluate(
                "() => window.vdPlayer.tracks.every((t) => !t.frontVideo.paused)"
            ),
            bool,
            10,
            "both recordings playing",
        )
        samples: list[dict[str, Any]] = await page.evaluate(SAMPLE, 4000)
        both = [s for s in samples if None not in s["pos"] and not any(s["paused"])]
        assert len(both) > 0.8 * len(samples), (len(both), len(samples), errors)
        drift = [abs(s["pos"][0] - s["pos"][1]) for s in both]
        assert max(drift) < 200, f"drift up to {max(drift):.0f} ms"
        # They really played (and crossed segment boundaries) while staying in step.
        assert both[-1]["pos"][0] - both[0]["pos"][0] > 3000
        assert len({s["seg"][0] for s in both}) >= 2 and len({s["seg"][1] for s in both}) >= 2
        assert not [e for e in errors if "pageerror" in e], errors


async def test_the_timeline_shows_where_the_publisher_was_away(
    site: Site, chromium_path: str
) -> None:
    async with chromium(chromium_path) as browser:
        page = await browser.new_page(viewport={"width": 1400, "height": 800})
        day = parse_iso(mf.load(site.data_dir / "recordings" / site.ids["gap"]).segments[0].start)
        await open_as_auditor(page, site, f"/archive/timeline?day={day.astimezone().date()}")
        row = page.locator('#coverage g.row[data-key="county-d-court"]')
        gap = row.locator('rect.gap[data-kind="publisher-disconnect"]')
        assert await gap.count() == 1
        box = await gap.bounding_box()
        assert box is not None and box["width"] > 0 and box["height"] > 0
        spans = row.locator("rect.span")
        assert await spans.count() == 2
        first, second = await spans.nth(0).bounding_box(), await spans.nth(1).bounding_box()
        assert first is not None and second is not None
        assert first["x"] <= box["x"] <= second["x"]
        tip = await gap.locator("title").text_content()
        assert tip and "推流中断" in tip and "推流端断开" in tip  # the reason, translated too
