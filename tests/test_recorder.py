"""Published streams are recorded as closed, chained, signed, playable segments."""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestServer

from camera_agents import WhipPublisher
from camera_agents.ice import use_host_addresses
from camera_agents.testsrc import ToneTrack
from recorder import Manifest, chain
from vdispatch.node import build_app
from vdispatch.settings import load_settings

from .conftest import Node
from .peers import EncodedVideoTrack, encode_vp8


def ffprobe(path: Path) -> dict:
    out = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-show_entries",
            "stream=codec_name,codec_type,width,height:format=duration",
            "-of",
            "json",
            str(path),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout)


@pytest.fixture
async def rec_node(tmp_path: Path) -> AsyncIterator[Node]:
    settings = load_settings(
        data_dir=tmp_path / "var", ice_addresses="127.0.0.1", segment_seconds=3, reconnect_grace=2
    )
    app = build_app(settings)
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    use_host_addresses(["127.0.0.1"])
    try:
        yield Node(url=str(server.make_url("")).rstrip("/"), app=app)
    finally:
        await server.close()
        use_host_addresses(None)


async def test_a_published_stream_becomes_closed_verified_segments(
    rec_node: Node, tmp_path: Path
) -> None:
    frames = encode_vp8(60, width=640, height=360, gop=30)
    publisher = WhipPublisher(
        rec_node.whip("cam"), rec_node.token("cam"), [EncodedVideoTrack(frames), ToneTrack()]
    )
    await publisher.start()
    await asyncio.sleep(10)
    await publisher.stop()
    await asyncio.sleep(0.5)
    rec_dirs = list((tmp_path / "var" / "recordings").iterdir())
    assert len(rec_dirs) == 1
    # the recording stays open for the reconnect grace, then closes
    await asyncio.sleep(2.5)
    manifest = Manifest.from_json((rec_dirs[0] / "manifest.json").read_bytes())
    assert manifest.state == "closed"
    assert len(manifest.segments) >= 3
    prev = chain.GENESIS
    for seg in manifest.segments:
        path = rec_dirs[0] / seg.file
        digest = chain.sha256_file(path)
        assert digest.hex() == seg.sha256
        prev = chain.link(prev, digest)
        assert prev.hex() == seg.chain
        probe = ffprobe(path)
        kinds = {s["codec_type"]: s for s in probe["streams"]}
        assert kinds["video"]["codec_name"] == "vp8" and kinds["video"]["width"] == 640
        assert kinds["audio"]["codec_name"] == "opus"
        assert abs(float(probe["format"]["duration"]) - seg.duration) < 0.5, (seg, probe)
    print(json.dumps([s.duration for s in manifest.segments]), manifest.continuity)
