"""A stream taken over from a lost node: the shared catalog says which recording the new
one continues (`Catalog.lost_recording`), and the recorder logs the gap between them."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from catalog import Catalog, CatalogSettings
from command_console import reason_zh
from command_console.i18n_archive import REASONS_ZH
from media_gateway.packet import RelayPacket
from recorder import Recorder, RecorderSettings, Takeover, TrackInfo
from recorder import manifest as mf
from recorder.continuity import parse
from recorder.signing import NodeKey

from .catalogs import KEY, copy_recording
from .recordings import _packetize, frames, manifest_or_none
from .waiting import wait_for


def _catalog_with(
    data: Path, url: str, template: Path, **changes: object
) -> tuple[Catalog, mf.Manifest]:
    """One recording of stream "cam" in a fresh catalog, its manifest changed so."""
    directory = copy_recording(template, data, "cam-1", stream="cam")
    manifest = dataclasses.replace(mf.load(directory), **changes)  # type: ignore[arg-type]
    mf.save(directory, manifest, NodeKey.load_or_create(data / KEY))
    catalog = Catalog.open(CatalogSettings(data_dir=data, database_url=url))
    catalog.upsert_from_manifest(directory)
    return catalog, manifest


def _end(manifest: mf.Manifest) -> datetime:
    return datetime.fromisoformat(manifest.segments[-1].end.replace("Z", "+00:00"))


@pytest.mark.parametrize(
    ("changes", "found"),
    [
        ({"node_id": "node-a", "state": "recording", "ended_at": None}, True),
        ({"node_id": "node-a", "end_reason": "node crashed"}, True),  # salvaged at restart
        ({"node_id": "node-a", "end_reason": "publisher lost"}, False),  # ended normally
        ({"node_id": "node-b", "state": "recording", "ended_at": None}, False),  # ours
    ],
)
def test_the_latest_recording_of_a_lost_node_is_found(
    database_url: str, tmp_path: Path, recording_template: Path, changes: dict, found: bool
) -> None:
    data = tmp_path / "var"
    catalog, manifest = _catalog_with(data, database_url, recording_template, **changes)
    try:
        now = _end(manifest) + timedelta(seconds=4)
        lost = catalog.lost_recording("cam", "node-b", "cam-2", 300, now)
        if not found:
            assert lost is None
            return
        assert lost is not None
        assert (lost.recording_id, lost.node_id) == ("cam-1", "node-a")
        assert lost.media_end == _end(manifest)  # its last catalogued segment's end
        assert catalog.lost_recording("cam", "node-b", "cam-1", 300, now) is None  # excluded
        later = now + timedelta(minutes=10)  # a node that died long ago: not this one
        assert catalog.lost_recording("cam", "node-b", "cam-2", 300, later) is None
    finally:
        catalog.dispose()


async def _feed_keyframe(recorder: Recorder) -> float:
    """Start "cam" and send its first keyframe; the wall clock of that frame."""
    feeds = recorder.start("cam", [TrackInfo("video", "video/vp8", 90000)], lambda: None)
    for i, data in enumerate(frames(3)):
        payloads = _packetize("vp8", data, i)
        for j, payload in enumerate(payloads):
            marker = int(j == len(payloads) - 1)
            feeds["video"].send(RelayPacket(i * 10 + j, i * 3000, marker, payload, False, 0.0))
    return await recorder.active["cam"].first_segment()


@pytest.mark.parametrize("media_first", [False, True])
async def test_a_recording_continuing_a_lost_node_s_logs_the_gap(
    tmp_path: Path, media_first: bool
) -> None:
    recorder = Recorder(RecorderSettings(data_dir=tmp_path / "var"), "node-b")
    since = time.time() - 3.0  # node A's last segment ended 3 s ago
    takeover = Takeover("cam-a-1", "node-a", since)
    try:
        if media_first:  # the catalog answered after the first keyframe
            first = await _feed_keyframe(recorder)
            recording = recorder.active["cam"]
            assert recorder.continues("cam", recording.id, takeover)
        else:  # the usual order: looked up before the first keyframe arrives
            recorder.start("cam", [TrackInfo("video", "video/vp8", 90000)], lambda: None)
            recording = recorder.active["cam"]
            assert recorder.continues("cam", recording.id, takeover)
            first = await _feed_keyframe(recorder)
        assert not recorder.continues("cam", "another-recording", takeover)
        manifest = await wait_for(
            lambda: manifest_or_none(recording.directory),
            lambda m: (
                m is not None
                and m.continues == "cam-a-1"
                and any(c.kind == "node-lost" for c in m.continuity)
            ),
            what="the node-lost entry in the manifest",
        )
    finally:
        await asyncio.wait_for(recorder.close(), 10)
    assert manifest is not None
    (gap,) = [c for c in manifest.continuity if c.kind == "node-lost"]
    assert parse(gap.reason) == (
        "node-lost",
        {"node": "node-a", "recording": "cam-a-1", "time": gap.start},
    )
    # the console shows it in Chinese (the archive, the session timeline, evidence copies)
    zh = REASONS_ZH["node-lost"].format(node="node-a", recording="cam-a-1", time=gap.start)
    assert reason_zh(gap.reason) == zh and "node-a" in zh and zh != gap.reason
    start = datetime.fromisoformat(gap.start.replace("Z", "+00:00")).timestamp()
    end = datetime.fromisoformat((gap.end or "").replace("Z", "+00:00")).timestamp()
    assert abs(start - since) < 0.002 and abs(end - first) < 0.002
    if not media_first:  # the span is logged once: it replaces the keyframe wait
        assert [c.kind for c in manifest.continuity] == ["node-lost"]
    assert datetime.now(UTC).timestamp() - end < 10
