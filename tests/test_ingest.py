"""Stations enroll their signing key and back-fill spooled segments (CONTRACT §5): every
answer of the ingest API on a real node, the audit rows, the catalog's coverage marking
the span as the station's spool, and `vdispatch verify` against the station's key."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import stat
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp

from catalog import coverage
from recorder import NodeKey
from recorder import manifest as mf
from recorder.chain import link
from signaling.keys import ARCHIVE_KEY, INGEST_KEY

from .conftest import Node

ROOT = Path(__file__).parent.parent
STATION = "county-c"
STREAM = f"{STATION}-judge"


def vdispatch(*args: str, data_dir: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    if data_dir is not None:
        env["VDISPATCH_DATA_DIR"] = str(data_dir)
    return subprocess.run(
        [sys.executable, "-m", "vdispatch", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=60,
    )


def iso(t: datetime) -> str:
    return t.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def station_recording(
    key: NodeKey, rid: str, bodies: list[bytes], stream: str = STREAM, station: str = STATION
) -> tuple[bytes, bytes]:
    """A station-signed manifest (bytes, signature) listing these segment bodies, 2 s each."""
    start = datetime(2026, 12, 2, 6, 0, tzinfo=UTC)
    m = mf.Manifest(
        recording_id=rid,
        stream=stream,
        station=station,
        node_id=f"{mf.STATION_PREFIX}{station}",
        container="mp4",
        codecs={"video": "h264"},
        started_at=iso(start),
        state="closed",
        ended_at=iso(start + timedelta(seconds=2 * len(bodies))),
    )
    prev = bytes(32)
    for i, body in enumerate(bodies, start=1):
        digest = hashlib.sha256(body).digest()
        prev = link(prev, digest)
        t0 = start + timedelta(seconds=2 * (i - 1))
        m.segments.append(
            mf.SegmentEntry(
                i,
                f"seg-{i:06d}.mp4",
                iso(t0),
                iso(t0 + timedelta(seconds=2)),
                2.0,
                len(body),
                digest.hex(),
                prev.hex(),
            )
        )
    data = m.to_json()
    return data, key.sign(data)


class Station:
    def __init__(self, node: Node, streams: list[str]) -> None:
        self.node = node
        self.token = node.tokens.mint(streams, "station", 600)

    async def put(
        self, path: str, body: bytes, headers: dict[str, str] | None = None
    ) -> tuple[int, str]:
        h = {"Authorization": f"Bearer {self.token}", **(headers or {})}
        async with (
            aiohttp.ClientSession() as http,
            http.put(f"{self.node.url}{path}", data=body, headers=h) as resp,
        ):
            return resp.status, await resp.text()

    async def manifest(self, rid: str, data: bytes, sig: bytes) -> tuple[int, str]:
        return await self.put(
            f"/api/ingest/{rid}/manifest", data, {"X-Signature": base64.b64encode(sig).decode()}
        )

    async def segment(self, rid: str, n: int, body: bytes, sha: str | None = None) -> int:
        sha = sha or hashlib.sha256(body).hexdigest()
        status, _ = await self.put(
            f"/api/ingest/{rid}/segments/{n}", body, {"X-Content-SHA256": sha}
        )
        return status

    async def held(self, rid: str) -> dict[str, object]:
        h = {"Authorization": f"Bearer {self.token}"}
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"{self.node.url}/api/ingest/{rid}", headers=h) as resp,
        ):
            assert resp.status == 200, await resp.text()
            return dict(await resp.json())


async def _enroll(node: Node, tmp_path: Path, station: str = STATION) -> NodeKey:
    token_file = tmp_path / f"{station}.token"
    token_file.write_text(node.tokens.mint([f"{station}-judge"], "station", 600) + "\n")
    key_dir = tmp_path / f"{station}-keys"
    args = ("station", "enroll", "--station", station, "--gateway", node.url)
    done = await asyncio.to_thread(
        vdispatch, *args, "--token-file", str(token_file), "--key-dir", str(key_dir)
    )
    assert done.returncode == 0, done.stderr
    return NodeKey.load_or_create(key_dir / "station-ed25519.pem")


async def test_a_station_enrolls_its_key_once_and_only_an_admin_replaces_it(
    node: Node, tmp_path: Path
) -> None:
    key = await _enroll(node, tmp_path)
    pem = tmp_path / f"{STATION}-keys" / "station-ed25519.pem"
    assert stat.S_IMODE(pem.stat().st_mode) == 0o600  # the private key stays, 0600
    again = await _enroll(node, tmp_path)  # the same key again: fine
    assert again.public_pem == key.public_pem
    catalog = node.app[ARCHIVE_KEY].catalog
    assert await asyncio.to_thread(catalog.station_key, STATION) == key.public_pem
    station = Station(node, [STREAM])
    other = NodeKey.load_or_create(tmp_path / "other.pem")
    status, text = await station.put(f"/api/ingest/stations/{STATION}/key", other.public_pem)
    assert status == 409 and "admin" in text
    intruder = Station(node, ["county-x-judge"])
    status, text = await intruder.put(f"/api/ingest/stations/{STATION}/key", other.public_pem)
    assert status == 403 and STATION in text
    viewer_token = node.tokens.mint([STREAM], "viewer", 600)
    async with (
        aiohttp.ClientSession() as http,
        http.put(
            f"{node.url}/api/ingest/stations/{STATION}/key",
            data=other.public_pem,
            headers={"Authorization": f"Bearer {viewer_token}"},
        ) as resp,
    ):
        assert resp.status == 403
    status, _ = await station.put(f"/api/ingest/stations/{STATION}/key", b"not a key")
    assert status == 422
    rows = await asyncio.to_thread(lambda: catalog.audit_rows(target=f"station:{STATION}"))
    assert [r["action"] for r in rows] == ["station.key_enrolled"]


async def test_back_fill_answers_201_200_409_422_403_413_and_checks_the_signature(
    node: Node, tmp_path: Path
) -> None:
    key = await _enroll(node, tmp_path)
    await _enroll(node, tmp_path, "county-d")
    station = Station(node, [STREAM])
    rid = f"spool-{STREAM}-20261202t060000z"
    bodies = [os.urandom(3000), os.urandom(2500), os.urandom(2000)]
    data, sig = station_recording(key, rid, bodies)

    # before the manifest: nothing to put segments into
    assert await station.segment(rid, 1, bodies[0]) == 404
    # a manifest signed by another key (another station's) is refused, with the reason
    status, text = await station.manifest(
        rid, data, NodeKey.load_or_create(tmp_path / "x").sign(data)
    )
    assert status == 422 and "signature" in text
    # another station's token may not put this station's recording
    other = Station(node, ["county-d-judge"])
    status, text = await other.manifest(rid, data, sig)
    assert status == 403, text
    assert (await station.manifest(rid, data, sig))[0] == 201
    assert (await station.manifest(rid, data, sig))[0] == 200  # the same again
    assert (await station.held(rid))["segments"] == []

    assert await station.segment(rid, 1, bodies[0]) == 201
    assert await station.segment(rid, 1, bodies[0]) == 200  # identical repeat
    assert await station.segment(rid, 2, os.urandom(2500)) == 409  # not what the manifest says
    assert await station.segment(rid, 2, bodies[2]) == 409
    wrong = hashlib.sha256(b"something else").hexdigest()
    assert await station.segment(rid, 2, bodies[1], sha=wrong) == 422  # hash mismatch
    assert await station.segment(rid, 9, bodies[1]) == 409  # not in the manifest held
    assert await other.segment(rid, 2, bodies[1]) == 403  # another station's recording
    node.app[INGEST_KEY].max_segment_bytes = 2200
    assert await station.segment(rid, 2, bodies[1]) == 413
    node.app[INGEST_KEY].max_segment_bytes = 64 * 1024 * 1024
    assert (await station.held(rid))["segments"] == [1]  # resume from here
    assert await station.segment(rid, 2, bodies[1]) == 201
    assert await station.segment(rid, 3, bodies[2]) == 201
    held = await station.held(rid)
    assert held["segments"] == [1, 2, 3] and held["complete"] is True
    directory = node.app[ARCHIVE_KEY].catalog.recordings_dir / rid
    assert not list(directory.glob("*.part"))

    # a newer manifest may not change what is held
    forged = list(bodies)
    forged[0] = os.urandom(3000)
    data2, sig2 = station_recording(key, rid, forged)
    assert (await station.manifest(rid, data2, sig2))[0] == 409

    catalog = node.app[ARCHIVE_KEY].catalog
    rows = await asyncio.to_thread(lambda: catalog.audit_rows(target=rid))
    assert [r["action"] for r in rows] == ["ingest.started", "ingest.completed"]
    summary = await asyncio.to_thread(catalog.recording, rid)
    assert summary is not None and summary["node_id"] == f"station:{STATION}"
    assert summary["ingested_at"] is not None and summary["segments"] == 3
    start = datetime(2026, 12, 2, 5, 59, tzinfo=UTC)
    cov = await asyncio.to_thread(coverage, catalog, start, start + timedelta(minutes=5))
    spans = cov[STREAM].spans
    assert [(s.recording_id, s.origin) for s in spans] == [(rid, "station spool")]
    assert (spans[0].end - spans[0].start).total_seconds() == 6.0
    # the archive and `vdispatch verify` check it against the station's key
    detail = await asyncio.to_thread(node.app[ARCHIVE_KEY].detail, rid)
    assert detail is not None and detail["verification"]["state"] == "ok"
    data_dir = catalog.settings.data_dir
    done = await asyncio.to_thread(vdispatch, "verify", rid, data_dir=data_dir)
    assert done.returncode == 0 and "OK: 3 segments" in done.stdout, done.stdout + done.stderr
    # another station's key replaces this one's (an admin's act): the signer is unknown
    pub = tmp_path / "d.pub"
    pub.write_bytes(await asyncio.to_thread(catalog.station_key, "county-d") or b"")
    args = ("station", "replace-key", "--station", STATION, "--public-key", str(pub))
    assert (await asyncio.to_thread(vdispatch, *args, data_dir=data_dir)).returncode == 0
    done = await asyncio.to_thread(vdispatch, "verify", rid, data_dir=data_dir)
    assert done.returncode == 1 and "not this node's" in done.stdout
    rows = await asyncio.to_thread(lambda: catalog.audit_rows(target=f"station:{STATION}"))
    assert [r["action"] for r in rows][-1] == "station.key_replaced"
