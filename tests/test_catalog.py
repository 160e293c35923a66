"""The catalog on SQLite and PostgreSQL: migrations from empty, manifests in and out
unchanged, rebuild from the files, and the live path (recorder -> catalog -> bus)."""

from __future__ import annotations

import asyncio
import shutil
import time
from datetime import timedelta
from pathlib import Path

from aiortc.codecs.vpx import Vp8Encoder
from sqlalchemy import inspect, select

from catalog import CatalogSettings
from catalog.db import alembic_config, current_revision
from catalog.recordings import Catalog
from catalog.schema import ContinuityRow, SegmentRow, iso, parse_iso
from cluster import Event, InProcessBus
from media_gateway.packet import RelayPacket
from recorder import Manifest, Recorder, RecorderSettings, TrackInfo
from recorder import manifest as mf
from vdispatch.catalog_bridge import CatalogBridge

from .catalogs import cli, copy_recording
from .recordings import frames

TABLES = {"recordings", "segments", "continuity_events", "audit_log", "alembic_version"}
# Revision 0002: the console's accounts and station registry share the database.
CONSOLE_TABLES = {"users", "login_sessions", "stations", "station_streams", "station_presence"}
# Revision 0003: hearing sessions.
HEARING_TABLES = {
    "hearings",
    "hearing_participants",
    "hearing_streams",
    "hearing_directions",
    "hearing_comments",
}
# Revision 0004: video dispatch and quick phrases.
DISPATCH_TABLES = {"dispatch_screens", "dispatch_layouts", "quick_phrases"}
# Revision 0005: interrogation evidence and the reception queue.
EVIDENCE_TABLES = {
    "hearing_interruptions",
    "hearing_record_versions",
    "hearing_seals",
    "reception_tickets",
}
# Revision 0006: reception kiosk links.
KIOSK_TABLES = {"kiosk_links"}
# Revision 0007: the evidence copies of sealed interrogations.
COPY_TABLES = {"evidence_copies"}
# Revision 0008: stations' enrolled keys.
STATION_KEY_TABLES = {"station_keys"}
# Revision 0010: the node rendering an evidence copy (a column).
HEAD = "0010"


def _catalog(data_dir: Path, url: str | None = None, days: int = 3650) -> Catalog:
    return Catalog.open(CatalogSettings(data_dir=data_dir, database_url=url, retention_days=days))


def test_alembic_upgrades_an_empty_database(database_url: str, tmp_path: Path) -> None:
    from alembic import command

    catalog = Catalog(CatalogSettings(data_dir=tmp_path / "var", database_url=database_url))
    try:
        assert current_revision(catalog.engine) is None
        catalog.migrate()
        assert current_revision(catalog.engine) == HEAD
        assert (
            set(inspect(catalog.engine).get_table_names())
            >= TABLES
            | CONSOLE_TABLES
            | HEARING_TABLES
            | DISPATCH_TABLES
            | EVIDENCE_TABLES
            | KIOSK_TABLES
            | STATION_KEY_TABLES
            | COPY_TABLES
        )
        catalog.migrate()  # idempotent
        assert current_revision(catalog.engine) == HEAD
        config = alembic_config()
        with catalog.engine.begin() as conn:
            config.attributes["connection"] = conn
            command.downgrade(config, "base")
        assert set(inspect(catalog.engine).get_table_names()) <= {"alembic_version"}
        catalog.migrate()
        assert set(inspect(catalog.engine).get_table_names()) >= TABLES
    finally:
        catalog.dispose()


def test_the_models_match_the_migrations(database_url: str, tmp_path: Path) -> None:
    """One declaration per table: the ORM classes (one declarative base) and the migrations
    describe the same schema, on SQLite and PostgreSQL."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from catalog import Base

    catalog = _catalog(tmp_path / "var", database_url)
    try:
        with catalog.engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            assert compare_metadata(context, Base.metadata) == []
    finally:
        catalog.dispose()


def _assert_matches_manifest(catalog: Catalog, manifest: Manifest) -> None:
    rec = catalog.recording(manifest.recording_id)
    assert rec is not None
    assert (rec["stream"], rec["station"], rec["session"], rec["node_id"]) == (
        manifest.stream,
        manifest.station,
        manifest.session,
        manifest.node_id,
    )
    assert (rec["container"], rec["codecs"], rec["state"]) == (
        manifest.container,
        manifest.codecs,
        manifest.state,
    )
    assert rec["started_at"] == manifest.started_at and rec["ended_at"] == manifest.ended_at
    assert rec["segments"] == len(manifest.segments)
    assert rec["bytes"] == sum(s.bytes for s in manifest.segments)
    with catalog._read() as session:
        rows = session.scalars(
            select(SegmentRow)
            .where(SegmentRow.recording_id == manifest.recording_id)
            .order_by(SegmentRow.index)
        ).all()
        gaps = session.scalars(
            select(ContinuityRow)
            .where(ContinuityRow.recording_id == manifest.recording_id)
            .order_by(ContinuityRow.position)
        ).all()
    back = [
        mf.SegmentEntry(
            r.index,
            r.file,
            iso(r.start) or "",
            iso(r.end) or "",
            r.duration,
            r.bytes,
            r.sha256,
            r.chain,
            r.flags,
        )
        for r in rows
    ]
    assert back == manifest.segments
    assert [(iso(g.start), iso(g.end), g.kind, g.reason) for g in gaps] == [
        (c.start, c.end, c.kind, c.reason) for c in manifest.continuity
    ]


def test_manifests_round_trip_through_the_catalog(
    database_url: str, tmp_path: Path, recording_template: Path
) -> None:
    data = tmp_path / "var"
    a = copy_recording(recording_template, data)
    b = copy_recording(
        recording_template, data, "court-1", stream="court", session="s-7", age=timedelta(days=2)
    )
    catalog = _catalog(data, database_url, days=30)
    try:
        assert catalog.upsert_from_manifest(a) == "added"
        assert catalog.upsert_from_manifest(a) == "unchanged"
        assert catalog.sync() == ["court-1"]  # the one it did not know
        assert catalog.sync() == []
        for directory in (a, b):
            _assert_matches_manifest(catalog, mf.load(directory))
        rec = catalog.recording("court-1")
        assert rec is not None and rec["legal_hold"] is False
        started = parse_iso(mf.load(b).started_at)
        assert rec["retention_until"] == iso(started + timedelta(days=30))

        assert [r["id"] for r in catalog.recordings()] == [a.name, "court-1"]  # newest first
        assert [r["id"] for r in catalog.recordings(stream="court")] == ["court-1"]
        assert [r["id"] for r in catalog.recordings(session_id="s-7")] == ["court-1"]
        assert catalog.recordings(stream="nope") == []
        day_ago = parse_iso(mf.load(a).started_at) - timedelta(days=1)
        assert [r["id"] for r in catalog.recordings(start=day_ago)] == [a.name]
        assert [r["id"] for r in catalog.recordings(end=day_ago)] == ["court-1"]

        seg = catalog.segment(a.name, 2)
        assert seg is not None and seg.path == a / "seg-000002.webm" and seg.container == "webm"
        assert catalog.segment(a.name, 99) is None
    finally:
        catalog.dispose()
    reopened = _catalog(data, database_url)  # a new engine, a new process's view
    try:
        _assert_matches_manifest(reopened, mf.load(b))
    finally:
        reopened.dispose()


def test_rebuild_restores_a_deleted_catalog_from_the_files(
    tmp_path: Path, recording_template: Path
) -> None:
    data = tmp_path / "var"
    copy_recording(recording_template, data)
    copy_recording(recording_template, data, "court-1", stream="court", session="s-7")
    first = cli(data, "catalog", "rebuild")
    assert first.returncode == 0, first.stderr
    assert "2 recordings, 10 segments" in first.stdout
    held = cli(data, "recording", "hold", "court-1", "--reason", "case 2024-17")
    assert held.returncode == 0, held.stderr
    catalog = _catalog(data)
    before = catalog.recordings()
    catalog.dispose()
    for path in data.glob("catalog.sqlite3*"):
        path.unlink()

    again = cli(data, "catalog", "rebuild")
    assert again.returncode == 0, again.stderr
    assert "2 recordings, 10 segments" in again.stdout
    catalog = _catalog(data)
    try:
        assert catalog.recordings() == before
        assert catalog.recording("court-1")["legal_hold"] is True  # type: ignore[index]
        for rid in (recording_template.name, "court-1"):
            _assert_matches_manifest(catalog, mf.load(data / "recordings" / rid))
        assert [r["action"] for r in catalog.audit_rows()] == ["catalog.rebuild"]
    finally:
        catalog.dispose()


def test_rebuild_keeps_other_nodes_entries_and_holds_unless_pruned(
    database_url: str, tmp_path: Path, recording_template: Path
) -> None:
    data = tmp_path / "var"
    local = copy_recording(recording_template, data)
    remote = copy_recording(recording_template, data, "remote-1", stream="court")
    catalog = _catalog(data, database_url)
    try:
        assert catalog.rebuild().recordings == 2
        catalog.set_legal_hold(local.name, True, "test", "case 3")
        catalog.hold_file(local.name).unlink()  # as if held from another node's command line
        shutil.rmtree(remote)  # as if recorded by another node sharing the catalog

        report = catalog.rebuild()
        assert (report.recordings, report.without_files, report.pruned) == (1, ["remote-1"], False)
        assert catalog.recording("remote-1") is not None
        assert catalog.recording(local.name)["legal_hold"] is True  # type: ignore[index]

        pruned = catalog.rebuild(prune=True)
        assert (pruned.recordings, pruned.without_files, pruned.pruned) == (1, ["remote-1"], True)
        assert catalog.recording("remote-1") is None
        assert [
            r["detail"]["without_files"] for r in catalog.audit_rows(action="catalog.rebuild")
        ] == [
            0,
            1,
            1,
        ]
    finally:
        catalog.dispose()


def test_catalog_commands_work_on_postgresql(
    postgres_url: str, tmp_path: Path, recording_template: Path
) -> None:
    data = tmp_path / "var"
    copy_recording(recording_template, data)
    rebuilt = cli(data, "catalog", "rebuild", database_url=postgres_url)
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "1 recordings, 5 segments (postgresql+psycopg://" in rebuilt.stdout
    assert not (data / "catalog.sqlite3").exists()
    checked = cli(data, "verify", "--audit", database_url=postgres_url)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "audit log: OK: 1 rows" in checked.stdout


async def _record_with_gaps(data_dir: Path, listener: CatalogBridge) -> Path:
    """Like make_recording, with two losses logged while it records."""
    recorder = Recorder(
        RecorderSettings(data_dir=data_dir, segment_seconds=2.0), "test-node", listener
    )
    feed = recorder.start("cam", [TrackInfo("video", "video/vp8", 90000)], lambda: None)["video"]
    recording = recorder.active["cam"]
    packer = Vp8Encoder()
    seq = 0
    for i, data in enumerate(frames(270)):
        payloads = packer._packetize(data, i & 0x7FFF)
        for j, payload in enumerate(payloads):
            marker = int(j == len(payloads) - 1)
            feed.send(RelayPacket(seq, (i * 3000) & 0xFFFFFFFF, marker, payload, False, 0.0))
            seq = (seq + 1) & 0xFFFF
        if i in (60, 200):
            now = time.time()
            recording.add_gap("loss", now - 0.2, now, f"test loss at frame {i}")
        if i % 30 == 0:
            await asyncio.sleep(0)
    # Before the close (which reconciles from the manifest), the live path has the gaps.
    for _ in range(100):
        await listener.drain()
        rec = await asyncio.to_thread(listener.catalog.recording, recording.id)
        with listener.catalog._read() as session:
            kinds = session.scalars(select(ContinuityRow.kind)).all()
        if kinds.count("loss") == 2 and rec is not None and rec["segments"] >= 4:
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError(f"live gaps or segments missing from the catalog: {kinds}, {rec}")
    listener.alarm(recording, "write-failure", "test alarm")
    await recorder.close()
    return recording.directory


async def test_a_live_recording_reaches_the_catalog_and_the_bus(
    database_url: str, tmp_path: Path
) -> None:
    data = tmp_path / "var"
    catalog = await asyncio.to_thread(_catalog, data, database_url)
    bus = InProcessBus()
    events: list[Event] = []

    async def listen() -> None:
        async for event in bus.subscribe("recording."):
            events.append(event)

    listener = asyncio.create_task(listen())
    await asyncio.sleep(0)
    bridge = CatalogBridge(catalog, bus, "test-node")
    try:
        directory = await _record_with_gaps(data, bridge)
        await bridge.close()
        await asyncio.sleep(0)
        manifest = mf.load(directory)
        assert [c.kind for c in manifest.continuity].count("loss") == 2
        await asyncio.to_thread(_assert_matches_manifest, catalog, manifest)
        alarms = [e for e in events if e.topic == "recording.alarm"]
        assert [(a.data["kind"], a.data["message"]) for a in alarms] == [
            ("write-failure", "test alarm")
        ]
        events = [e for e in events if e.topic != "recording.alarm"]
        topics = [e.topic for e in events]
        assert topics.count("recording.segment") == len(manifest.segments)
        assert topics[-1] == "recording.closed"
        assert events[-1].data["segments"] == len(manifest.segments)
        assert [e.data["index"] for e in events[:-1]] == [s.index for s in manifest.segments]
        assert all(e.node_id == "test-node" for e in events)
    finally:
        await bus.close()
        await listener
        await asyncio.to_thread(catalog.dispose)
