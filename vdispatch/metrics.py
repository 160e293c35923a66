"""The node's Prometheus metrics: one registry per node (several nodes in one process,
as in the tests, never share one), filled at scrape time from the state the node keeps
anyway, plus a histogram or two for what is counted as it happens.

A scrape takes what lives on the event loop (streams, consumers, recorder, bus, logins)
as a snapshot on the loop, then renders the text in a thread: the process collector
reads /proc and the disk is asked with statvfs, neither on the loop. Metric names and
what each means: docs/operations.md, "Metrics". deploy/grafana/vdispatch.json queries
them (tests/test_metrics.py checks it names no other).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.metadata
import logging
import os
from collections.abc import AsyncIterator, Iterable, Iterator
from pathlib import Path
from typing import Any

from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from media_gateway import MediaGateway
from recorder import Recorder
from signaling import (
    BUS_KEY,
    GATEWAY_KEY,
    LOGIN_FAILURES_KEY,
    METRICS_KEY,
    RECORDER_KEY,
    MetricsExposition,
    serve_metrics,
)

from .catalog_health import CATALOG_HEALTH_KEY

logger = logging.getLogger(__name__)

# Seconds: a segment close normally takes tens of milliseconds (hash, rename, sign).
SEGMENT_LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# Seconds an event-loop wake-up came late: above a few ms, media packets queue up.
LOOP_LAG_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)
LOOP_LAG_INTERVAL = 0.5


def _version() -> str:
    try:
        return importlib.metadata.version("vdispatch")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


VERSION = _version()  # read once, at import: never a file read on the loop


class _Families:
    """Metric families being built, by name."""

    def __init__(self) -> None:
        self._all: dict[str, Metric] = {}

    def counter(self, name: str, doc: str, labels: Iterable[str] = ()) -> CounterMetricFamily:
        family = self._all.get(name)
        if family is None:
            family = self._all[name] = CounterMetricFamily(name, doc, labels=list(labels))
        assert isinstance(family, CounterMetricFamily)
        return family

    def gauge(self, name: str, doc: str, labels: Iterable[str] = ()) -> GaugeMetricFamily:
        family = self._all.get(name)
        if family is None:
            family = self._all[name] = GaugeMetricFamily(name, doc, labels=list(labels))
        assert isinstance(family, GaugeMetricFamily)
        return family

    def __iter__(self) -> Iterator[Metric]:
        return iter(self._all.values())


def _stream_families(f: _Families, gateway: MediaGateway) -> None:
    sk = ("stream", "kind")
    live = f.gauge("vdispatch_streams_live", "Streams published on this node now.")
    relays = f.gauge(
        "vdispatch_relays_live", "Streams relayed here from the node that holds them (cascade)."
    )
    info = f.gauge(
        "vdispatch_stream_info",
        "A live stream (1): its codecs, and the node it is relayed from (origin; empty"
        " when published here).",
        ("stream", "video_codec", "audio_codec", "origin"),
    )
    viewers = f.gauge("vdispatch_stream_viewers", "Viewers of a live stream.", ("stream",))
    bitrate = f.gauge(
        "vdispatch_stream_receive_bits_per_second",
        "Bit rate received from the publisher (payload, last second).",
        ("stream",),
    )
    packets = f.counter(
        "vdispatch_stream_packets_received_total", "RTP packets received from the publisher.", sk
    )
    octets = f.counter(
        "vdispatch_stream_received_bytes_total",
        "RTP payload bytes received from the publisher.",
        sk,
    )
    lost = f.counter(
        "vdispatch_stream_packets_lost_total",
        "RTP packets from the publisher never received (a retransmitted one is not lost).",
        sk,
    )
    nacks_sent = f.counter(
        "vdispatch_stream_nacks_sent_total", "NACK messages sent to the publisher.", sk
    )
    keyframes = f.counter(
        "vdispatch_stream_keyframes_received_total", "Keyframes received from the publisher.", sk
    )
    plis_sent = f.counter(
        "vdispatch_stream_keyframe_requests_sent_total",
        "Keyframe requests (PLI) sent to the publisher: viewers joining or asking, coalesced.",
        sk,
    )
    plis_received = f.counter(
        "vdispatch_stream_keyframe_requests_received_total",
        "Keyframe requests (PLI/FIR) received from viewers.",
        sk,
    )
    nacks_received = f.counter(
        "vdispatch_stream_nacks_received_total", "NACK messages received from viewers.", sk
    )
    sent = f.counter("vdispatch_forwarded_packets_total", "RTP packets forwarded to viewers.", sk)
    sent_bytes = f.counter(
        "vdispatch_forwarded_bytes_total", "RTP payload bytes forwarded to viewers.", sk
    )
    dropped = f.counter(
        "vdispatch_forwarding_dropped_packets_total",
        "Packets not forwarded to a viewer: its transport not ready or its send buffer full.",
        sk,
    )
    retransmitted = f.counter(
        "vdispatch_forwarding_retransmitted_packets_total",
        "Packets sent again to viewers that NACKed them.",
        sk,
    )
    streams = gateway.streams()
    relayed = sum(1 for stream in streams if stream.origin is not None)
    live.add_metric([], len(streams) - relayed)
    relays.add_metric([], relayed)
    for stream in streams:
        sid = stream.stream_id
        viewers.add_metric([sid], stream.viewers)
        bitrate.add_metric([sid], stream.bitrate)
        publication = gateway.publication(sid)
        codecs = [stream.video_codec or "", stream.audio_codec or "", stream.origin or ""]
        info.add_metric([sid, *codecs], 1)
        if publication is None:
            continue
        for kind, producer in sorted(publication.producers.items()):
            labels = [sid, kind]
            packets.add_metric(labels, producer.packets)
            octets.add_metric(labels, producer.bytes)
            lost.add_metric(labels, producer.packets_lost)
            nacks_sent.add_metric(labels, producer.nacks_sent)
            forwarded = producer.forwarding()
            sent.add_metric(labels, forwarded.packets_sent)
            sent_bytes.add_metric(labels, forwarded.bytes_sent)
            dropped.add_metric(labels, forwarded.dropped)
            retransmitted.add_metric(labels, forwarded.retransmitted)
            nacks_received.add_metric(labels, forwarded.nacks_received)
            plis_received.add_metric(labels, forwarded.keyframe_requests_received)
            if kind == "video":
                keyframes.add_metric(labels, producer.keyframes)
                plis_sent.add_metric(labels, producer.keyframe_requests_sent)


def _recorder_families(f: _Families, recorder: Recorder) -> None:
    stats = recorder.stats
    f.counter(
        "vdispatch_recorder_segments_total", "Segments closed, chained and signed."
    ).add_metric([], stats.segments)
    f.counter("vdispatch_recorder_segment_bytes_total", "Bytes of the segments closed.").add_metric(
        [], stats.segment_bytes
    )
    dropped = f.counter(
        "vdispatch_recorder_frames_dropped_total",
        "Frames received but not written (continuity entries `dropped`), by why.",
        ("reason",),
    )
    for reason in ("late", "backlog"):
        dropped.add_metric([reason], stats.dropped_frames.get(f"frames-dropped-{reason}", 0))
    f.gauge(
        "vdispatch_recorder_open_recordings",
        "Recordings open: being written, cut over from or closing.",
    ).add_metric([], recorder.open_recordings)


def _bus_families(f: _Families, bus: Any) -> None:
    f.counter(
        "vdispatch_bus_events_dropped_total",
        "Bus events dropped: a subscriber too slow, or Redis unreachable.",
    ).add_metric([], getattr(bus, "dropped", 0))
    f.counter(
        "vdispatch_bus_messages_forged_total",
        "Bus messages ignored because their node signature did not verify.",
    ).add_metric([], getattr(bus, "forged", 0))
    f.gauge(
        "vdispatch_bus_healthy", "1 while the bus works (Redis reachable when clustered)."
    ).add_metric([], 1 if getattr(bus, "healthy", True) else 0)


class _LoopState(Collector):
    """The event loop's state, as a snapshot taken on the loop before each scrape."""

    def __init__(self, app: web.Application) -> None:
        self._app = app
        self._families: list[Metric] = []

    def refresh(self) -> None:
        f = _Families()
        gateway = self._app.get(GATEWAY_KEY)
        if gateway is not None:
            _stream_families(f, gateway)
        recorder = self._app.get(RECORDER_KEY)
        if recorder is not None:
            _recorder_families(f, recorder)
        bus = self._app.get(BUS_KEY)
        if bus is not None:
            _bus_families(f, bus)
        health = self._app.get(CATALOG_HEALTH_KEY)
        if health is not None:
            f.gauge(
                "vdispatch_catalog_up",
                "1 while the catalog's database answers (0: pages answer 503, recording goes on).",
            ).add_metric([], 0 if health.down else 1)
        failures = self._app.get(LOGIN_FAILURES_KEY)
        if failures is not None:
            family = f.counter(
                "vdispatch_login_failures_total", "Failed console logins, by why.", ("reason",)
            )
            for reason, count in failures.counts.items():
                family.add_metric([reason], count)
        self._families = list(f)

    def collect(self) -> Iterable[Metric]:
        return list(self._families)


class _Disk(Collector):
    """Free space where recordings go: statvfs at each scrape (in the rendering thread)."""

    def __init__(self, directory: Path) -> None:
        self._directory = directory

    def collect(self) -> Iterable[Metric]:
        path = self._directory
        while not path.exists() and path != path.parent:
            path = path.parent  # not made yet: the disk it will be made on
        try:
            st = os.statvfs(path)
        except OSError:
            return []
        free = GaugeMetricFamily(
            "vdispatch_recordings_disk_free_bytes",
            "Free bytes on the recordings directory's file system (for unprivileged users).",
        )
        free.add_metric([], st.f_bavail * st.f_frsize)
        size = GaugeMetricFamily(
            "vdispatch_recordings_disk_size_bytes",
            "Size of the recordings directory's file system.",
        )
        size.add_metric([], st.f_blocks * st.f_frsize)
        return [free, size]


class NodeMetrics:
    """The registry of one node, and what feeds it."""

    def __init__(self, app: web.Application, node_id: str, recordings_dir: Path) -> None:
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        info = Gauge(
            "vdispatch_node_info",
            "This node (1): its id and the vdispatch version it runs.",
            ("node", "version"),
            registry=self.registry,
        )
        info.labels(node_id, VERSION).set(1)
        self.segment_latency = Histogram(
            "vdispatch_recorder_segment_latency_seconds",
            "From the recorder closing a segment to its file renamed, hashed and chained"
            " into the signed manifest.",
            buckets=SEGMENT_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.loop_lag = Histogram(
            "vdispatch_event_loop_lag_seconds",
            "How late the event loop woke a task that slept (its lag).",
            buckets=LOOP_LAG_BUCKETS,
            registry=self.registry,
        )
        self.loop_lag_last = Gauge(
            "vdispatch_event_loop_lag_last_seconds",
            "The event loop's lag at its latest measurement.",
            registry=self.registry,
        )
        self._state = _LoopState(app)
        self.registry.register(self._state)
        self.registry.register(_Disk(recordings_dir))

    async def render(self) -> bytes:
        self._state.refresh()  # on the loop: the loop's objects are not thread-safe
        return await asyncio.to_thread(generate_latest, self.registry)

    async def watch_loop(self, interval: float = LOOP_LAG_INTERVAL) -> None:
        """Sleep `interval` again and again; what the wake-up overshoots is the lag."""
        loop = asyncio.get_running_loop()
        while True:
            start = loop.time()
            await asyncio.sleep(interval)
            lag = max(0.0, loop.time() - start - interval)
            self.loop_lag.observe(lag)
            self.loop_lag_last.set(lag)


NODE_METRICS_KEY = web.AppKey("node_metrics", NodeMetrics)
METRICS_LISTENER_KEY = web.AppKey("metrics_listener", web.AppRunner)


def install(
    app: web.Application, node_id: str, recordings_dir: Path, token: str | None
) -> NodeMetrics:
    """The node's metrics, /metrics on the public port (METRICS_KEY), and the loop-lag
    watch while the app runs."""
    metrics = app[NODE_METRICS_KEY] = NodeMetrics(app, node_id, recordings_dir)
    app[METRICS_KEY] = MetricsExposition(metrics.render, CONTENT_TYPE_LATEST, token)

    async def watch(app: web.Application) -> AsyncIterator[None]:
        task = asyncio.ensure_future(metrics.watch_loop())
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    app.cleanup_ctx.append(watch)
    return metrics


def add_listener(app: web.Application, host: str, port: int) -> None:
    """Serve /metrics to anyone at host:port while the app runs (port 0: any free one;
    METRICS_LISTENER_KEY's runner tells which). A listener that cannot bind is logged as
    an error and the node runs on: media first."""
    listen = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"

    async def listener(app: web.Application) -> AsyncIterator[None]:
        runner = web.AppRunner(serve_metrics(app[METRICS_KEY]), access_log=None)
        await runner.setup()
        try:
            await web.TCPSite(runner, host, port).start()
        except OSError as exc:
            logger.error(
                "metrics: cannot listen on %s (%s): /metrics only on the public port", listen, exc
            )
        else:
            app[METRICS_LISTENER_KEY] = runner
            for address in runner.addresses:  # the port chosen, when 0 was asked for
                logger.info("metrics: listening on %s:%s (/metrics)", *address[:2])
        yield
        await runner.cleanup()

    app.cleanup_ctx.append(listener)
