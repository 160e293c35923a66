"""PostgreSQL stopped under a node while a station publishes and a viewer watches: the
catalog's pages and API answer 503 with the reason (Retry-After), nothing else fails,
the stream and its recording go on; once it is back, the catalog lists every recording
with all its segments (re-indexed from the manifests), nothing lost."""

from __future__ import annotations

import asyncio
import secrets
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer
from sqlalchemy import create_engine, func, select
from sqlalchemy.exc import IntegrityError, OperationalError

from camera_agents import WhipPublisher
from camera_agents.testsrc import ToneTrack
from catalog import Catalog, CatalogSettings
from catalog.schema import RecordingRow, SegmentRow
from cluster import InProcessBus
from media_gateway import set_host_addresses
from recorder import manifest as mf
from signaling import Hearings, Stations, TokenIssuer, catalog_outage_middleware, is_outage
from vdispatch.sealing import InterruptionWatch

from .catalogs import cli
from .console import PASSWORD, logged_in
from .console import console as browser
from .failover_nodes import NodeProcess, free_port
from .peers import EncodedVideoTrack, Viewer, encode_vp8
from .pg_server import temp_postgres
from .waiting import wait_for

FRAMES = encode_vp8(60, gop=30)
HTML = {"Accept": "text/html"}


def _manifests(recordings: Path) -> dict[str, mf.Manifest]:
    out = {}
    for directory in recordings.iterdir():
        try:
            out[directory.name] = mf.load(directory)
        except (OSError, ValueError):
            continue  # being created
    return out


METRICS_TOKEN = "m" * 24


async def test_a_postgresql_outage_answers_503_and_loses_no_recording(tmp_path: Path) -> None:
    with temp_postgres() as pg:
        data = tmp_path / "var"
        assert (
            cli(
                data,
                "user",
                "add",
                "aud",
                "--role",
                "auditor",
                database_url=pg.url,
                stdin=PASSWORD + "\n",
            ).returncode
            == 0
        )
        secret = secrets.token_hex(24)
        log = tmp_path / "node.log"
        scrape = {"Authorization": f"Bearer {METRICS_TOKEN}"}
        node = NodeProcess(
            "node-a",
            data,
            free_port(),
            pg.url,
            secret,
            extra_env={"VDISPATCH_METRICS_LISTEN": "", "VDISPATCH_METRICS_TOKEN": METRICS_TOKEN},
            log=log,
        )
        await node.start()
        engine = create_engine(pg.url, pool_pre_ping=True)
        set_host_addresses(["127.0.0.1"])
        tokens = TokenIssuer(secret.encode())
        station = tokens.mint(["cam", "cam2"], "station", 600)
        publisher = WhipPublisher(
            f"{node.url}/whip/cam", station, [EncodedVideoTrack(FRAMES), ToneTrack()]
        )
        late = WhipPublisher(f"{node.url}/whip/cam2", station, [EncodedVideoTrack(FRAMES)])
        viewer = Viewer(f"{node.url}/whep/cam", tokens.mint(["cam"], "viewer", 600))
        second_viewer = Viewer(f"{node.url}/whep/cam", tokens.mint(["cam"], "viewer", 600))
        statuses: list[int] = []

        def catalogued() -> dict[str, int]:
            with engine.connect() as conn:
                rows = conn.execute(
                    select(RecordingRow.id, func.count(SegmentRow.index))
                    .outerjoin(SegmentRow, SegmentRow.recording_id == RecordingRow.id)
                    .group_by(RecordingRow.id)
                )
                return {rid: int(n) for rid, n in rows}

        try:
            await publisher.start()
            await viewer.start()
            async with logged_in(node.url, "aud") as console:
                ok = await console.get("/archive", headers=HTML)
                assert ok.status == 200, ok.text
                (rid,) = await wait_for(
                    lambda: {r: n for r, n in catalogued().items() if n >= 1},
                    what="the first segment catalogued",
                    timeout=20,
                )
                before = len(_manifests(node.recordings)[rid].segments)

                pg.stop("immediate")
                page = await console.get("/archive", headers=HTML)
                api = await console.get("/api/recordings")
                statuses += [page.status, api.status]
                assert page.status == 503 and "text/html" in page.headers["Content-Type"]
                assert "catalog unavailable: " in page.text and page.headers["Retry-After"]
                assert api.status == 503 and api.text.startswith("catalog unavailable: ")
                assert api.headers["Retry-After"]
                health = await console.get("/healthz")
                assert health.status == 200
                # The operator's gauge says so once the probe noticed (it probes every 2 s).
                await wait_for(
                    lambda: console.get("/metrics", headers=scrape),
                    lambda r: r.status == 200 and "\nvdispatch_catalog_up 0.0" in r.text,
                    what="vdispatch_catalog_up 0 on /metrics",
                    timeout=10,
                )
                async with browser(node.url) as stranger:  # a login needs the catalog
                    tried = await stranger.login("aud", headers=HTML)
                statuses.append(tried.status)
                assert tried.status == 503 and "text/html" in tried.headers["Content-Type"]
                # Media does not need the catalog: a new publisher, a new viewer, recording.
                await late.start()
                await second_viewer.start()
                await second_viewer.wait_frames(10)
                frames = len(viewer.frames)
                await wait_for(
                    lambda: len(_manifests(node.recordings)[rid].segments),
                    lambda n: n >= before + 2,
                    what="two more segments written while the catalog is down",
                    timeout=20,
                )
                # The first viewer kept receiving throughout (60 frames: 2 s at 30 fps).
                await wait_for(
                    lambda: len(viewer.frames),
                    lambda n: n > frames + 60,
                    what="the first viewer still receiving frames",
                    timeout=20,
                )
                await wait_for(
                    lambda: log.read_text(), lambda t: "catalog unavailable" in t, what="alarm"
                )
                again = await console.get("/api/recordings")
                statuses.append(again.status)
                assert again.status == 503

                pg.start()

                # Back: every recording with every segment its manifest lists (the open
                # one's grow on: compared at one moment, they agree).
                def complete() -> tuple[dict[str, int], dict[str, int]]:
                    listed = catalogued()
                    on_disk = {r: len(m.segments) for r, m in _manifests(node.recordings).items()}
                    return listed, on_disk

                listed, on_disk = await wait_for(
                    complete,
                    lambda pair: len(pair[1]) == 2 and pair[0] == pair[1],
                    what="the catalog complete again",
                    timeout=15,
                )
                print(f"\ncatalog after the outage: {listed}")
                up = await console.get("/metrics", headers=scrape)
                assert "\nvdispatch_catalog_up 1.0" in up.text
                back = await console.get("/api/recordings")
                statuses.append(back.status)
                assert back.status == 200, back.text
                found = (await console.json("/api/recordings"))["recordings"]
                assert {r["id"] for r in found} == set(on_disk)
        finally:
            for peer in (viewer, second_viewer):
                await peer.close()
            await publisher.stop()
            await late.stop()
            set_host_addresses(None)
            node.stop()
            engine.dispose()
        text = log.read_text()
        assert set(statuses) <= {200, 503}, statuses
        assert "Error handling request" not in text  # no unhandled 500
        # One ERROR for the whole outage: the alarm (the rest are one-line warnings).
        alarms = [line for line in text.splitlines() if " ERROR " in line]
        assert len(alarms) == 1 and "catalog unavailable: " in alarms[0], alarms
        assert "Traceback" not in text
        assert "re-indexed" in text


async def test_only_a_lost_connection_is_an_outage_and_it_reads_as_its_medium() -> None:
    down = OperationalError("SELECT 1", {}, Exception("connection refused\nmore detail"))
    refused = IntegrityError("INSERT", {}, Exception("duplicate key"))
    assert is_outage(down) and not is_outage(refused)

    async def fails(request: web.Request) -> web.Response:
        raise down if request.query.get("what") != "bug" else refused

    app = web.Application(middlewares=[catalog_outage_middleware])
    app.router.add_get("/archive", fails)
    app.router.add_get("/api/recordings", fails)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        async with aiohttp.ClientSession(str(server.make_url(""))) as http:
            async with http.get("/archive", headers=HTML) as r:
                page = (r.status, r.content_type, r.headers.get("Retry-After"), await r.text())
            async with http.get("/api/recordings", headers=HTML) as r:
                api = (r.status, r.content_type, r.headers.get("Retry-After"), await r.text())
            async with http.get("/api/recordings?what=bug") as r:
                bug = r.status
    finally:
        await server.close()
    assert (
        page[:3] == (503, "text/html", "5") and "catalog unavailable: connection refused" in page[3]
    )
    assert api == (503, "text/plain", "5", "catalog unavailable: connection refused\n")
    # a refused query is not an outage: passed on (here, to aiohttp's own 500)
    assert bug == 500


async def test_an_interrogation_s_interruption_during_an_outage_is_stored_when_it_is_back(
    tmp_path: Path,
) -> None:
    """Its stream lost and back while the database is down: kept, in order, then stored
    with the times it happened (the session's record has it, not only the manifests)."""
    with temp_postgres() as pg:
        settings = CatalogSettings(data_dir=tmp_path / "var", database_url=pg.url)
        catalog = await asyncio.to_thread(Catalog.open, settings)
        stations, hearings = Stations(catalog.engine), Hearings(catalog.engine)
        await asyncio.to_thread(stations.add, "county-a", "甲县", "第一法庭", "courtroom", ["cam"])

        def live_interrogation() -> str:
            hearing = hearings.create(
                kind="interrogation",
                station="county-a",
                county="甲县",
                streams=["cam"],
                title="讯问",
                case_no="2026-1",
                creator="boss",
            )
            hearings.transition(hearing.id, "live", "boss")
            return hearing.id

        session = await asyncio.to_thread(live_interrogation)
        bus = InProcessBus()
        watch = InterruptionWatch(hearings, bus, "node-a", lambda stream: session)
        publication = SimpleNamespace(stream_id="cam")  # all the watch reads of one
        try:
            pg.stop()
            lost_at = datetime.now(UTC)
            watch.on_unpublished(publication)  # type: ignore[arg-type]
            await wait_for(lambda: watch.kept, lambda n: n == 1, what="the interruption kept")
            watch.on_published(publication)  # type: ignore[arg-type]
            await wait_for(lambda: watch.kept, lambda n: n == 2, what="its end kept after it")
            back_at = datetime.now(UTC)
            pg.start()
            watch.catalog_back()

            def stored() -> list[dict]:
                try:
                    return hearings.interruptions(session)
                except OperationalError:
                    return []

            (entry,) = await wait_for(
                stored, lambda rows: rows and rows[0]["ended_at"], what="the interruption stored"
            )
        finally:
            await watch.close()
            await bus.close()
            await asyncio.to_thread(catalog.dispose)
        started = datetime.fromisoformat(entry["started_at"].replace("Z", "+00:00"))
        ended = datetime.fromisoformat(entry["ended_at"].replace("Z", "+00:00"))
        lost_at = lost_at.replace(microsecond=lost_at.microsecond // 1000 * 1000)  # iso: ms
        assert lost_at <= started <= ended <= back_at  # their own times, not the replay's
        assert (entry["stream"], entry["kind"]) == ("cam", "stream-lost")
