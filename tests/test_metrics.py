"""The node's Prometheus metrics: what a scrape shows of a live stream, its viewer and its
recording; who may read /metrics on the public port; the metrics listener; and the
Grafana dashboard, which may only query metrics the node exposes."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from prometheus_client.parser import text_string_to_metric_families

from camera_agents import WhipPublisher
from media_gateway import Producer, set_host_addresses
from media_gateway.consumer import Consumer
from vdispatch.metrics import METRICS_LISTENER_KEY
from vdispatch.node import build_app
from vdispatch.settings import SettingsError, load_settings

from .console import add_user, console, logged_in
from .peers import EncodedVideoTrack, Viewer, encode_vp8
from .test_forwarding import DELTA, KEY, VP8, Wire
from .waiting import wait_for

DASHBOARD = Path(__file__).resolve().parent.parent / "deploy" / "grafana" / "vdispatch.json"
METRICS_TOKEN = "scraper-token-0123456789abcdef"

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@dataclass
class MeteredNode:
    url: str
    listener_url: str
    app: web.Application

    def token(self, stream: str, role: str = "station") -> str:
        from signaling import TOKENS_KEY

        return self.app[TOKENS_KEY].mint([stream], role, 600)  # type: ignore[arg-type]


@pytest.fixture
async def metered(tmp_path: Path) -> AsyncIterator[MeteredNode]:
    """A node as `vdispatch serve` runs it (metrics listener on a free loopback port),
    with one-second segments, a metrics token, and a login limit of one failure."""
    settings = load_settings(
        data_dir=tmp_path / "var",
        ice_addresses="127.0.0.1",
        reconnect_grace=0.2,
        segment_seconds=1,
        metrics_listen="127.0.0.1:0",
        metrics_token=METRICS_TOKEN,
        login_failures_per_user=1,
    )
    app = build_app(settings, metrics_listener=True)
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    set_host_addresses(["127.0.0.1"])
    host, port = app[METRICS_LISTENER_KEY].addresses[0][:2]
    try:
        yield MeteredNode(str(server.make_url("")).rstrip("/"), f"http://{host}:{port}", app)
    finally:
        await server.close()
        set_host_addresses(None)
        await asyncio.sleep(0)


async def fetch(url: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
    async with aiohttp.ClientSession() as http, http.get(url, headers=headers or {}) as r:
        return r.status, await r.text()


async def scrape(node: MeteredNode) -> Samples:
    status, text = await fetch(node.url + "/metrics", {"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert status == 200, text
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


def dashboard_metric_names() -> set[str]:
    board = json.loads(DASHBOARD.read_text())
    exprs = [
        target["expr"]
        for panel in board["panels"]
        for target in panel.get("targets", [])
        if "expr" in target
    ]
    for variable in board["templating"]["list"]:
        query = variable.get("query")
        exprs.append(query.get("query", "") if isinstance(query, dict) else "")
        exprs.append(variable.get("definition", ""))
    names = set()
    for expr in exprs:
        names |= set(re.findall(r"\b(?:vdispatch|process)_[a-z0-9_]+", expr))
    return names


async def test_a_scrape_shows_the_stream_its_viewer_its_recording_and_the_node(
    metered: MeteredNode,
) -> None:
    publisher = WhipPublisher(
        metered.url + "/whip/cam1",
        metered.token("cam1"),
        [EncodedVideoTrack(encode_vp8(60, gop=30))],
    )
    await publisher.start()
    viewer = Viewer(metered.url + "/whep/cam1", metered.token("cam1", "viewer"))
    try:
        await viewer.start()
        await viewer.wait_frames(10, timeout=15)
        async with console(metered.url) as c:
            await add_user(metered.app, "clerk1", "clerk")
            assert (await c.login("clerk1", "not the password")).status == 401
            assert (await c.login("clerk1", "not the password")).status == 429  # throttled
            assert (await c.login("nobody", "whatever")).status == 401

        def ready(s: Samples) -> bool:
            latency = value(s, "vdispatch_recorder_segment_latency_seconds_count")
            forwarded = value(s, "vdispatch_forwarded_packets_total", stream="cam1", kind="video")
            return bool(latency and latency >= 1 and forwarded)

        s = await wait_for(
            lambda: scrape(metered), ready, what="a segment closed and packets forwarded"
        )
        video = {"stream": "cam1", "kind": "video"}
        assert value(s, "vdispatch_streams_live") == 1
        assert value(s, "vdispatch_stream_viewers", stream="cam1") == 1
        assert (value(s, "vdispatch_stream_packets_received_total", **video) or 0) > 0
        assert (value(s, "vdispatch_stream_received_bytes_total", **video) or 0) > 0
        assert value(s, "vdispatch_stream_packets_lost_total", **video) is not None
        assert value(s, "vdispatch_stream_nacks_sent_total", **video) is not None
        assert (value(s, "vdispatch_stream_keyframes_received_total", **video) or 0) >= 1
        # The viewer joining asked the publisher for a keyframe (a PLI).
        assert (value(s, "vdispatch_stream_keyframe_requests_sent_total", **video) or 0) >= 1
        assert (value(s, "vdispatch_stream_receive_bits_per_second", stream="cam1") or 0) > 0
        info = {"stream": "cam1", "video_codec": "VP8", "audio_codec": "", "origin": ""}
        assert value(s, "vdispatch_stream_info", **info) == 1
        assert (value(s, "vdispatch_forwarded_bytes_total", **video) or 0) > 0
        assert value(s, "vdispatch_forwarding_dropped_packets_total", **video) is not None
        # The recorder: a segment closed, chained and signed, and how long that took.
        assert (value(s, "vdispatch_recorder_segments_total") or 0) >= 1
        assert (value(s, "vdispatch_recorder_segment_bytes_total") or 0) > 0
        assert (value(s, "vdispatch_recorder_segment_latency_seconds_sum") or 0) > 0
        assert value(s, "vdispatch_recorder_open_recordings") == 1
        assert value(s, "vdispatch_recorder_frames_dropped_total", reason="backlog") == 0
        # The node.
        assert (value(s, "vdispatch_recordings_disk_free_bytes") or 0) > 0
        assert value(s, "vdispatch_event_loop_lag_last_seconds") is not None
        assert value(s, "vdispatch_event_loop_lag_seconds_count") is not None
        assert value(s, "vdispatch_bus_events_dropped_total") == 0
        assert value(s, "vdispatch_bus_healthy") == 1
        assert value(s, "vdispatch_login_failures_total", reason="bad_password") == 1
        assert value(s, "vdispatch_login_failures_total", reason="throttled") == 1
        assert value(s, "vdispatch_login_failures_total", reason="unknown_account") == 1
        assert any(name == "vdispatch_node_info" for name, _ in s)
        assert (value(s, "process_resident_memory_bytes") or 0) > 0
        # Every metric the dashboard queries is one this node exposes.
        exposed = {name for name, _ in s}
        missing = dashboard_metric_names() - exposed
        assert not missing, f"the dashboard queries metrics the node does not expose: {missing}"
    finally:
        await viewer.close()
        await publisher.stop()


async def test_metrics_on_the_public_port_answer_only_admins_and_the_metrics_token(
    metered: MeteredNode,
) -> None:
    url = metered.url + "/metrics"
    status, text = await fetch(url)
    assert status == 401 and "admin console session" in text
    status, text = await fetch(url, {"Authorization": "Bearer not-the-token"})
    assert status == 401 and "wrong metrics token" in text
    status, text = await fetch(url, {"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert status == 200 and "vdispatch_node_info" in text
    await add_user(metered.app, "chief", "commander")
    await add_user(metered.app, "root", "admin")
    async with logged_in(metered.url, "chief") as commander:
        answer = await commander.get("/metrics")
        assert answer.status == 403 and "needs admin" in answer.text
    async with logged_in(metered.url, "root") as admin:
        answer = await admin.get("/metrics")
        assert answer.status == 200 and "vdispatch_streams_live" in answer.text
    # The metrics listener (loopback by default) answers anyone, without credentials.
    status, text = await fetch(metered.listener_url + "/metrics")
    assert status == 200 and "vdispatch_node_info" in text


def test_the_dashboard_is_grafana_json_on_a_prometheus_datasource_variable() -> None:
    board = json.loads(DASHBOARD.read_text())
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    for panel in board["panels"]:
        if panel.get("type") != "row":
            assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
    names = dashboard_metric_names()
    for wanted in (
        "vdispatch_stream_viewers",
        "vdispatch_stream_packets_lost_total",
        "vdispatch_stream_nacks_sent_total",
        "vdispatch_stream_keyframe_requests_sent_total",
        "vdispatch_stream_keyframes_received_total",
        "vdispatch_recorder_segment_latency_seconds_bucket",
        "vdispatch_recorder_segment_bytes_total",
        "vdispatch_recordings_disk_free_bytes",
        "vdispatch_event_loop_lag_seconds_bucket",
        "vdispatch_bus_events_dropped_total",
        "vdispatch_login_failures_total",
    ):
        assert wanted in names, wanted


def test_metrics_listen_is_host_and_port_or_empty_for_no_listener(tmp_path: Path) -> None:
    def address(listen: str) -> tuple[str, int] | None:
        return load_settings(data_dir=tmp_path, metrics_listen=listen).metrics_address

    assert address("127.0.0.1:9464") == ("127.0.0.1", 9464)
    assert address("[::1]:9464") == ("::1", 9464)
    assert address("") is None
    with pytest.raises(SettingsError, match=r"metrics_listen: .*HOST:PORT"):
        address("9464")
    with pytest.raises(SettingsError, match=r"metrics_token: .*16 characters"):
        load_settings(data_dir=tmp_path, metrics_token="short")


async def test_forwarding_totals_keep_what_a_viewer_that_left_was_sent() -> None:
    producer = Producer("p", VP8, lambda: None)
    stays = Consumer("a", producer, Wire(), 96, 1)
    leaves = Consumer("b", producer, Wire(), 96, 2)
    for seq, payload in enumerate([KEY, DELTA, DELTA]):
        producer.receive(seq, seq * 3000, 1, payload)
    leaves.on_nack([0])
    leaves.on_keyframe_request()
    before = producer.forwarding()
    assert (before.packets_sent, before.bytes_sent) == (6, 6 * len(KEY))
    leaves.close()
    after = producer.forwarding()
    assert after == before  # a counter never goes down when a viewer leaves
    assert (after.nacks_received, after.keyframe_requests_received) == (1, 1)
    producer.receive(3, 9000, 1, DELTA)
    assert producer.forwarding().packets_sent == 7
    stays.close()
    assert producer.forwarding().packets_sent == 7
