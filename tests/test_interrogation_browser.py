"""An interrogation seen from every side, in real Chromium with fake devices, one browser:
the director's page (city camera), the interrogation room's station page (its camera and
microphone) and its display (the prosecutor's picture), and the auditor's archive page.
The start is refused while the room is not on air; both sides decode each other's video
and hear each other; the room's publisher killed is an alarm on both sides within 2 s,
cleared when it is back; the end seals it; Verify on the archive page says OK, and names
the segment once a byte of it is flipped (as `vdispatch verify --session` does).

Also over HTTP: the seal panel's verify and export (auditors only; a reception's package
holds its petition, the audit row only says so), and a sealed recording's legal hold
cannot be lifted by the CLI (so retention can never delete it)."""

from __future__ import annotations

import asyncio
import io
import json
import subprocess
import time
import zipfile
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page
from sqlalchemy import text

from catalog import run_retention
from signaling import ARCHIVE_KEY, EVIDENCE_KEY, HEARINGS_KEY, RECEPTION_KEY, RECORDER_KEY

from .conftest import Node
from .console import add_station, add_user, logged_in
from .test_browser import chromium, collect_errors, log_in
from .test_seal import CAM, _node, create, post, publisher
from .test_session_binding import until
from .test_verify import cli
from .waiting import wait_for

# Inbound RTP of a page's peer connections: {kind: (packets, frames)}.
INBOUND = """async (pcs) => {
  const out = { audio: 0, video: 0 };
  for (const pc of pcs) {
    (await pc.getStats()).forEach((r) => {
      if (r.type !== "inbound-rtp") return;
      if (r.kind === "audio") out.audio += r.packetsReceived || 0;
      if (r.kind === "video") out.video += r.framesDecoded || 0;
    });
  }
  return out;
}"""
CONSOLE_PCS = f"""async (stream) => {{
  const tile = window.hearing.stage && window.hearing.stage.tiles.get(stream);
  const pc = tile && tile.live.session && tile.live.session.pc;
  return await ({INBOUND})(pc ? [pc] : []);
}}"""
DISPLAY_PCS = f"""async (stream) => {{
  const tile = window.screenTiles && window.screenTiles.get(stream);
  const pc = tile && tile.stream.session && tile.stream.session.pc;
  return await ({INBOUND})(pc ? [pc] : []);
}}"""


@pytest.fixture
async def room_node(tmp_path: Path) -> AsyncIterator[Node]:
    async for node in _node(tmp_path):
        yield node


async def _page(browser: Browser, url: str) -> tuple[Page, list[str]]:
    context = await browser.new_context(viewport={"width": 1280, "height": 800})
    page = await context.new_page()
    errors = collect_errors(page)
    await page.goto(url)
    return page, errors


async def _heard_and_seen(page: Page, script: str, stream: str, what: str) -> None:
    await wait_for(
        lambda: page.evaluate(script, stream),
        lambda s: s["audio"] > 0 and s["video"] > 0,
        what=what,
        timeout=20,
    )


@pytest.mark.browser
async def test_an_interrogation_from_both_sides_and_the_archive(
    room_node: Node, chromium_path: str, tmp_path: Path
) -> None:
    node, app, data_dir = room_node, room_node.app, tmp_path / "var"
    recorder = app[RECORDER_KEY]
    await add_station(app, "int-a", [CAM], "甲县", "看守所 提讯室", "interrogation_room")
    await add_user(app, "director", "commander")
    await add_user(app, "aud", "auditor")
    async with logged_in(node.url, "director") as api:
        sid = await create(api)
    token = node.token(CAM)
    station_url = f"{node.url}/station/{CAM}?token={token}"
    async with chromium(chromium_path) as browser:
        director, d_errors = await _page(browser, f"{node.url}/sessions/{sid}")
        await log_in(director, node.url, "director")
        await director.locator('#events-state[data-state="open"]').wait_for(timeout=5000)
        await director.locator("#city-toggle").click()
        await director.locator('#city[data-state="connected"]').wait_for(timeout=15000)
        await until(lambda: recorder.has_media(f"{sid}-city"), f"city recorded {d_errors}")

        # The room is not on air: the start is refused, the page says why.
        await director.locator("#start").click()
        await wait_for(
            lambda: director.locator("#h-error").text_content(),
            lambda t: CAM in (t or ""),
            what="the 409 reason on the page",
        )
        assert await director.locator('#hearing[data-state="scheduled"]').count() == 1

        # The room's station page publishes its (fake) camera and microphone: it starts.
        room, r_errors = await _page(browser, station_url)
        await room.locator('#station[data-state="connected"]').wait_for(timeout=15000)
        await until(lambda: recorder.has_media(CAM), f"the room recorded {r_errors}")
        await director.locator("#start:not([disabled])").click()
        await director.locator('#hearing[data-state="live"]').wait_for(timeout=5000)
        assert not await director.locator("#h-error").text_content()  # the refusal is gone

        # Both sides see and hear each other.
        display, s_errors = await _page(browser, f"{node.url}/station/int-a/display?token={token}")
        await _heard_and_seen(director, CONSOLE_PCS, CAM, "the console decodes the room")
        await _heard_and_seen(
            display, DISPLAY_PCS, f"{sid}-city", f"the room's display decodes the city {s_errors}"
        )
        assert await display.locator("#screen-alarm").is_hidden()

        # The room's publisher dies: an alarm on both sides within 2 s.
        killed = time.monotonic()
        await room.close()
        await director.locator("#h-alarm:not([hidden])").wait_for(timeout=2000)
        await display.locator('#screen[data-alarm="on"]').wait_for(timeout=2000)
        took = time.monotonic() - killed
        assert took <= 2.0, took
        assert CAM in (await display.locator("#screen-alarm .detail").text_content() or "")
        async with logged_in(node.url, "director") as api:
            body = await api.json(f"/api/sessions/{sid}")
        [gap] = body["interruptions"]
        assert gap["stream"] == CAM and gap["started_at"] and gap["ended_at"] is None

        # Back: both alarms clear.
        room, r_errors = await _page(browser, station_url)
        await room.locator('#station[data-state="connected"]').wait_for(timeout=15000)
        await director.locator("#h-alarm[hidden]").wait_for(state="attached", timeout=10000)
        await display.locator('#screen[data-alarm="off"]').wait_for(timeout=10000)
        async with logged_in(node.url, "director") as api:
            body = await api.json(f"/api/sessions/{sid}")
        assert body["interruptions"][0]["ended_at"] is not None

        # The end seals it; the page shows it.
        await director.locator("#end").click()
        await director.locator("#end").click()
        await director.locator('#hearing[data-state="sealed"]').wait_for(timeout=30000)
        await room.close()

        # The archive: the seal panel, Verify OK.
        auditor, a_errors = await _page(browser, f"{node.url}/archive/sessions/{sid}")
        await log_in(auditor, node.url, "aud")
        panel = auditor.locator('#seal-panel[data-sealed="yes"]')
        await panel.wait_for(timeout=5000)
        sealed_ids = await auditor.locator("#seal-recordings tr[data-recording]").evaluate_all(
            "(rows) => rows.map((r) => r.dataset.recording)"
        )
        assert len(sealed_ids) >= 2, sealed_ids
        await auditor.locator("#seal-verify").click()
        await auditor.locator('#seal-result[data-state="ok"]').wait_for(timeout=30000)

        # One byte flipped in one segment: the page and the CLI both name it.
        rid = next(r for r in sealed_ids if r.startswith(CAM))
        target = sorted((data_dir / "recordings" / rid).glob("seg-*"))[0]
        data = bytearray(target.read_bytes())
        data[len(data) // 2] ^= 0xFF
        target.write_bytes(bytes(data))
        await auditor.locator("#seal-verify").click()
        failed = auditor.locator('#seal-result[data-state="failed"]')
        await failed.wait_for(timeout=30000)
        assert await failed.get_attribute("data-recording") == rid
        assert await failed.get_attribute("data-segment") == target.name
        assert target.name in (await failed.text_content() or "")
        row = auditor.locator(f'#seal-recordings tr[data-recording="{rid}"]')
        assert await row.get_attribute("data-verified") == "failed"
        assert target.name in (await row.locator(".result").text_content() or "")
        result = await asyncio.to_thread(cli, data_dir, "verify", "--session", sid)
        assert result.returncode == 1 and target.name in result.stdout, result.stdout
        for errors in (d_errors, s_errors, a_errors):
            assert not [e for e in errors if "pageerror" in e], errors


async def _sealed_interrogation(node: Node) -> str:
    """An interrogation ended and sealed through the store (no media: no recordings)."""
    hearings = node.app[HEARINGS_KEY]
    async with logged_in(node.url, "director") as api:
        sid = await create(api)
    await asyncio.to_thread(hearings.transition, sid, "live", "user:director")
    ended = await asyncio.to_thread(hearings.transition, sid, "ended", "user:director")
    await node.app[EVIDENCE_KEY].seal(ended, "user:director")
    return sid


async def test_the_seal_panel_verifies_and_exports_for_auditors_only(room_node: Node) -> None:
    node, app = room_node, room_node.app
    await add_station(app, "int-a", [CAM], "甲县", "看守所 提讯室", "interrogation_room")
    await add_user(app, "director", "commander")
    await add_user(app, "aud", "auditor")
    sid = await _sealed_interrogation(node)
    async with logged_in(node.url, "aud") as aud:
        page = await aud.get(f"/archive/sessions/{sid}?lang=en")
        assert 'id="seal-panel"' in page.text and 'data-sealed="yes"' in page.text
        assert "Signing key fingerprint" in page.text and 'id="seal-export"' in page.text
        answer = await aud.post(f"/archive/sessions/{sid}/verify", data="")
        assert answer.status == 200, answer.text
        result = json.loads(answer.text)
        assert result["ok"] and result["sealed"] and result["seal_ok"], result
        answer = await aud.post("/archive/sessions/nope/verify", data="")
        assert answer.status == 404 and "no session" in answer.text
        zipped = await aud.http.get(f"{node.url}/archive/sessions/{sid}/export")
        assert zipped.status == 200
        names = zipfile.ZipFile(io.BytesIO(await zipped.read())).namelist()
        assert {"seal.json", "seal.sig", "node.pub", "SHA256SUMS"} <= set(names)
        assert "petition.json" not in names
    async with logged_in(node.url, "director") as director:
        assert (await director.post(f"/archive/sessions/{sid}/verify", data="")).status == 403
        assert (await director.get(f"/archive/sessions/{sid}/export")).status == 403
        # Sealed: sealing again, ending again, a record edit: each 409, nothing changed.
        refused = await post(director, f"/api/sessions/{sid}/seal", {}, 409)
        assert f"session {sid} is sealed" in refused["text"]
        await post(director, f"/api/sessions/{sid}/end", {}, 409)
    catalog = app[ARCHIVE_KEY].catalog
    rows = await asyncio.to_thread(catalog.audit_rows, target=f"session:{sid}")
    actions = [r["action"] for r in rows]
    assert "session.verify" in actions and "session.export" in actions

    # The seal record changed in the catalog: Verify says the seal is at fault.
    def tamper() -> None:
        with catalog.engine.begin() as conn:
            conn.execute(
                text("UPDATE hearing_seals SET record = replace(record, :a, :b)"),
                {"a": "甲检2026-7", "b": "甲检2026-8"},
            )

    await asyncio.to_thread(tamper)
    async with logged_in(node.url, "aud") as aud:
        answer = await aud.post(f"/archive/sessions/{sid}/verify", data="")
        result = json.loads(answer.text)
        assert not result["ok"] and result["seal_ok"] is False, result
        assert result["problem"] == "the seal's signature does not match its record"


async def test_a_reception_is_sealed_and_its_package_holds_the_petition(
    room_node: Node, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    node, app = room_node, room_node.app
    await add_station(app, "recv-a", ["recv-a-cam"], "甲县", "接访室", "reception_room")
    await add_user(app, "recv", "receptionist")
    await add_user(app, "aud", "auditor")
    await add_user(app, "boss", "commander")
    reception = app[RECEPTION_KEY]
    form = {"name": "张三丰", "contact": "13800000000", "subject": "工资拖欠"}
    ticket = await asyncio.to_thread(reception.enqueue, "recv-a", "甲县", form, "kiosk:recv-a")
    async with logged_in(node.url, "recv") as recv:
        session = await post(recv, f"/api/reception/queue/{ticket.id}/accept", {})
        sid = session["id"]
        outcome = {"matter": "讨薪", "reply": "已答复", "follow_up": "转办", "department": "劳动局"}
        await post(recv, f"/api/reception/queue/{ticket.id}/close", outcome)
        # Sealed in the background, once its recordings (none here) closed.
        hearings = app[HEARINGS_KEY]

        async def sealed() -> bool:
            found = await asyncio.to_thread(hearings.get, sid)
            return found is not None and found.state == "sealed"

        await wait_for(sealed, what="the reception sealed", timeout=20)
        assert (await recv.json(f"/api/sessions/{sid}"))["state"] == "sealed"
    async with logged_in(node.url, "boss") as boss:
        assert (await boss.get(f"/archive/sessions/{sid}/export")).status == 403
    async with logged_in(node.url, "aud") as aud:
        zipped = await aud.http.get(f"{node.url}/archive/sessions/{sid}/export")
        assert zipped.status == 200
        with zipfile.ZipFile(io.BytesIO(await zipped.read())) as z:
            petition = json.loads(z.read("petition.json"))
            sums = z.read("SHA256SUMS").decode()
            audit = z.read("audit.jsonl").decode()
            z.extractall(tmp_path / "package")
        assert petition["petitioner"] == "张三丰" and petition["contact"] == "13800000000"
        assert petition["outcome"]["department"] == "劳动局"
        assert "petition.json" in sums and "张三丰" not in audit
    checked = subprocess.run(
        ["sha256sum", "-c", "SHA256SUMS"], cwd=tmp_path / "package", capture_output=True
    )
    assert checked.returncode == 0, checked.stdout
    rows = await asyncio.to_thread(app[ARCHIVE_KEY].catalog.audit_rows, target=f"session:{sid}")
    [export] = [r for r in rows if r["action"] == "session.export"]
    assert export["detail"]["petition"] is True
    assert "张三丰" not in json.dumps(rows, ensure_ascii=False)
    assert "张三丰" not in caplog.text and "13800000000" not in caplog.text


async def test_a_sealed_recording_keeps_its_hold_against_the_cli(
    room_node: Node, tmp_path: Path
) -> None:
    node, app, data_dir = room_node, room_node.app, tmp_path / "var"
    recorder = app[RECORDER_KEY]
    await add_station(app, "int-a", [CAM], "甲县", "看守所 提讯室", "interrogation_room")
    await add_user(app, "director", "commander")
    async with logged_in(node.url, "director") as api:
        sid = await create(api)
        media = await post(
            api, f"/api/sessions/{sid}/media", {"stream": "city", "direction": "publish"}, 201
        )
        station = publisher(node, CAM)
        city = publisher(node, f"{sid}-city", media["token"], node.url + media["url"])
        await station.start()
        await city.start()
        try:
            await until(lambda: recorder.has_media(CAM), "the room recorded")
            await until(lambda: recorder.has_media(f"{sid}-city"), "the city recorded")
            await post(api, f"/api/sessions/{sid}/start", {})
        finally:
            await station.stop()
            await city.stop()
        sealed = await post(api, f"/api/sessions/{sid}/end", {})
        assert sealed["state"] == "sealed", sealed
        body = await api.json(f"/api/sessions/{sid}")
    rid = body["seal"]["record"]["recordings"][0]["id"]
    catalog = app[ARCHIVE_KEY].catalog
    result = await asyncio.to_thread(cli, data_dir, "recording", "release", rid)
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"sealed in session {sid}" in result.stderr and "nothing changed" in result.stderr
    assert catalog.hold_file(rid).exists()
    later = datetime.now(UTC) + timedelta(days=36500)
    await asyncio.to_thread(run_retention, catalog, "test", later)
    assert (data_dir / "recordings" / rid).is_dir()
