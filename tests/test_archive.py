"""The auditors' archive pages on a real node with real recordings, through the real login
form: filters, verification badges, recording page (audited), the coverage timeline, the
evidence package download (audited), the audit log page and its chain banner, and who
may not see any of it."""

from __future__ import annotations

import io
import json
import re
import sqlite3
import zipfile
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from catalog.schema import parse_iso
from recorder import manifest as mf
from signaling import ARCHIVE_KEY

from .archive_site import Site, archive_site
from .console import console, logged_in


@pytest.fixture
async def site(tmp_path: Path, recording_template: Path, gap_template: Path) -> AsyncIterator[Site]:
    async with archive_site(tmp_path / "var", recording_template, gap_template) as s:
        yield s


def recording_day(site: Site, name: str) -> str:
    """The local day a recording started (what the timeline page calls a day)."""
    manifest = mf.load(site.data_dir / "recordings" / site.ids[name])
    return parse_iso(manifest.segments[0].start).astimezone().date().isoformat()


def listed(html: str) -> list[str]:
    return re.findall(r'<tr data-recording="([^"]+)"', html)


async def audit_rows(site: Site, action: str) -> list[dict]:
    import asyncio

    catalog = site.app[ARCHIVE_KEY].catalog
    return await asyncio.to_thread(catalog.audit_rows, None, action)


async def test_the_list_filters_by_county_station_dates_and_session(site: Site) -> None:
    ids = site.ids
    async with logged_in(site.url, "auditor") as c:
        page = await c.get("/archive")
        assert page.status == 200, page.text
        assert set(listed(page.text)) == {ids["court"], ids["room"], ids["old"], ids["gap"]}
        assert page.text.count('class="vbadge" data-state="ok"') == 4
        assert "人民法院 第一法庭" in page.text and "甲县" in page.text
        assert f'href="/archive/{ids["court"]}/export"' in page.text

        assert listed((await c.get("/archive?county=甲县")).text) == [ids["court"]]
        station = await c.get("/archive?station=county-b-interrogation")
        assert listed(station.text) == [ids["room"]]
        session = await c.get("/archive?session=hearing-7")
        assert set(listed(session.text)) == {ids["court"], ids["room"]}
        old_day = (datetime.now() - timedelta(days=3)).date().isoformat()
        dated = await c.get(f"/archive?from={old_day}&to={old_day}")
        assert listed(dated.text) == [ids["old"]]
        assert listed((await c.get("/archive?county=nowhere")).text) == []
        assert (await c.get("/archive?from=yesterday")).status == 400


async def test_a_changed_segment_shows_a_failed_badge(site: Site) -> None:
    seg = site.data_dir / "recordings" / site.ids["old"] / "seg-000002.webm"
    data = bytearray(seg.read_bytes())
    data[len(data) // 2] ^= 0xFF
    seg.write_bytes(bytes(data))
    async with logged_in(site.url, "auditor") as c:
        page = await c.get("/archive")
        row = re.search(rf'<tr data-recording="{site.ids["old"]}" data-verified="(\w+)"', page.text)
        assert row and row.group(1) == "failed"
        detail = await c.get(f"/archive/{site.ids['old']}")
        assert 'class="vbadge" data-state="failed"' in detail.text
        assert "seg-000002.webm" in detail.text


async def test_the_recording_page_is_audited_and_lists_gaps(site: Site) -> None:
    async with logged_in(site.url, "auditor") as c:
        page = await c.get(f"/archive/{site.ids['gap']}")
        assert page.status == 200, page.text
        assert 'id="player-config"' in page.text and "/static/player.js" in page.text
        assert 'data-kind="publisher-disconnect"' in page.text
        assert (await c.get("/archive/no-such-recording")).status == 404
        sync = await c.get(f"/archive/sync?id={site.ids['court']}&id={site.ids['room']}")
        assert sync.status == 200
        assert sync.text.count('<figure class="screen"') == 2
    views = await audit_rows(site, "recording.view")
    assert [(r["actor"], r["target"]) for r in views] == [
        ("user:auditor", site.ids["gap"]),
        ("user:auditor", site.ids["court"]),
        ("user:auditor", site.ids["room"]),
    ]


async def test_the_timeline_shows_spans_and_the_disconnect(site: Site) -> None:
    async with logged_in(site.url, "auditor") as c:
        page = await c.get(f"/archive/timeline?day={recording_day(site, 'gap')}")
        assert page.status == 200, page.text
        svg = page.text
        assert svg.count('<g class="row"') == 4  # the four stations
        gap_row = re.search(r'<g class="row" data-key="county-d-court">(.*?)</g>', svg, re.S)
        assert gap_row
        assert gap_row.group(1).count('class="span"') == 2
        assert 'class="gap" data-kind="publisher-disconnect"' in gap_row.group(1)
        assert "推流中断" in gap_row.group(1)  # the tooltip, in Chinese
        day = recording_day(site, "gap")
        assert f'href="/archive?station=county-d-court&amp;from={day}&amp;to={day}"' in svg
        old_day = (datetime.now() - timedelta(days=3)).date().isoformat()
        old = await c.get(f"/archive/timeline?day={old_day}&station=county-c-reception")
        assert old.text.count('<g class="row"') == 1 and 'class="span"' in old.text
        english = await c.get(f"/archive/timeline?lang=en&day={recording_day(site, 'gap')}")
        assert "publisher disconnected" in english.text


async def test_export_downloads_the_evidence_package_and_is_audited(site: Site) -> None:
    rid = site.ids["court"]
    async with (
        logged_in(site.url, "auditor") as c,
        c.http.get(f"{site.url}/archive/{rid}/export") as r,
    ):
        assert r.status == 200, await r.text()
        assert r.headers["Content-Type"] == "application/zip"
        assert r.headers["Content-Disposition"] == f'attachment; filename="{rid}.zip"'
        body = await r.read()
    with zipfile.ZipFile(io.BytesIO(body)) as z:
        names = set(z.namelist())
        assert {"manifest.json", "manifest.sig", "node.pub", "SHA256SUMS", "audit.jsonl"} <= names
        assert "seg-000005.webm" in names
        trail = [json.loads(line) for line in z.read("audit.jsonl").decode().splitlines()]
    assert trail[-1]["action"] == "recording.export" and trail[-1]["actor"] == "user:auditor"
    exports = await audit_rows(site, "recording.export")
    assert [(r["actor"], r["target"]) for r in exports] == [("user:auditor", rid)]


async def test_the_audit_page_shows_views_and_detects_an_edited_row(site: Site) -> None:
    async with logged_in(site.url, "auditor") as c:
        await c.get(f"/archive/{site.ids['court']}")
        page = await c.get("/audit")
        assert page.status == 200, page.text
        assert 'id="chain" data-ok="true"' in page.text
        actions = re.findall(r'<tr data-id="(\d+)" data-action="([^"]+)"', page.text)
        ids = [int(i) for i, _ in actions]
        assert ids == sorted(ids, reverse=True)  # newest first
        assert actions[0][1] == "recording.view"
        only = await c.get("/audit?action=recording.view&actor=auditor")
        assert {a for _, a in re.findall(r'data-id="(\d+)" data-action="([^"]+)"', only.text)} == {
            "recording.view"
        }
    async with logged_in(site.url, "admin") as c:
        assert (await c.get("/audit")).status == 200
        # Somebody edits a row behind the application's back.
        db = sqlite3.connect(site.data_dir / "catalog.sqlite3")
        with db:
            db.execute("UPDATE audit_log SET actor = 'user:nobody' WHERE action = 'recording.view'")
        db.close()
        page = await c.get("/audit")
        assert 'id="chain" data-ok="false"' in page.text
        assert "edited" in page.text


async def test_only_auditors_see_the_archive(site: Site) -> None:
    rid = site.ids["court"]
    paths = ["/archive", "/archive/timeline", f"/archive/{rid}", f"/archive/{rid}/export"]
    for name in ("commander", "admin"):
        async with logged_in(site.url, name) as c:
            for path in paths:
                answer = await c.get(path)
                assert answer.status == 403, (name, path, answer.status)
    async with logged_in(site.url, "commander") as c:
        assert (await c.get("/audit")).status == 403
    async with console(site.url) as c:
        for path in [*paths, "/audit"]:
            answer = await c.get(path)
            assert answer.status == 302 and answer.location.startswith("/login?next="), path
    assert await audit_rows(site, "recording.export") == []
