"""Simulcast: the offer's layers and our answer (SDP text), and a SimulcastConsumer's
switching between real Producers (plain bytes, no network): only at a keyframe of the
layer it moves to, with the viewer's sequence numbers and timestamps continuous."""

from __future__ import annotations

import itertools
import time

from media_gateway.consumer import Consumer
from media_gateway.packet import RelayPacket
from media_gateway.producer import Producer
from media_gateway.simulcast import (
    ALIVE,
    Adaptation,
    SimulcastConsumer,
    top_layer_track,
    ts_diff,
)
from media_gateway.simulcast_sdp import (
    REPAIRED_RID_URI,
    RID_URI,
    answer_with_simulcast,
    offered_simulcast,
)

from .test_forwarding import CONT, DELTA, KEY, VP8, Wire

OFFER = "\r\n".join(
    [
        "v=0",
        "o=- 1 2 IN IP4 127.0.0.1",
        "s=-",
        "t=0 0",
        "a=group:BUNDLE 0 1",
        "m=audio 9 UDP/TLS/RTP/SAVPF 111",
        "a=mid:0",
        "a=sendonly",
        "m=video 9 UDP/TLS/RTP/SAVPF 96 97",
        "a=mid:1",
        "a=sendonly",
        "a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid",
        f"a=extmap:10 {RID_URI}",
        f"a=extmap:11 {REPAIRED_RID_URI}",
        "a=rid:q send",
        "a=rid:h send",
        "a=rid:f send",
        "a=simulcast:send q;~h;f",
        "",
    ]
)


def test_the_offers_layers_are_read_lowest_first_and_answered() -> None:
    offers = offered_simulcast(OFFER)
    assert list(offers) == ["1"]
    assert offers["1"].rids == ["q", "h", "f"]  # "~h" (paused) is still a layer
    assert offers["1"].extensions == {RID_URI: 10, REPAIRED_RID_URI: 11}
    answer = OFFER.replace("sendonly", "recvonly").replace("a=rid:", "x=").replace("a=sim", "x=")
    answered = answer_with_simulcast(answer, offers)
    video = answered.split("m=video")[1]
    assert "a=rid:q recv\r\na=rid:h recv\r\na=rid:f recv\r\na=simulcast:recv q;h;f" in video
    assert "a=simulcast" not in answered.split("m=video")[0]


def test_an_offer_without_two_rids_or_the_rid_extension_is_not_simulcast() -> None:
    assert offered_simulcast(OFFER.replace(f"a=extmap:10 {RID_URI}\r\n", "")) == {}
    assert offered_simulcast(OFFER.replace("a=simulcast:send q;~h;f", "a=simulcast:send q")) == {}
    assert answer_with_simulcast("v=0\r\n", {}) == "v=0\r\n"


def _layers() -> tuple[list[Producer], list[list[int]]]:
    plis: list[list[int]] = [[], [], []]
    layers = [
        Producer(f"p-{rid}", VP8, lambda i=i: plis[i].append(1))  # type: ignore[misc]
        for i, rid in enumerate("qhf")
    ]
    return layers, plis


def _frame(layers: list[Producer], seqs: list[int], ts: list[int], payloads: list[bytes]) -> None:
    """One picture in each layer: the same instant, each layer's own seq and timestamp base."""
    for i, producer in enumerate(layers):
        producer.receive(seqs[i], ts[i], 1, payloads[i])
        seqs[i] += 1
        ts[i] += 3000


async def test_each_viewer_starts_on_a_keyframe_of_its_own_layer() -> None:
    layers, _ = _layers()
    low, high = Wire(), Wire()
    SimulcastConsumer("low", layers, low, 96, 1, choice="low")
    SimulcastConsumer("high", layers, high, 96, 2, choice="high")
    seqs, ts = [100, 5000, 60000], [0, 1 << 20, 1 << 31]
    _frame(layers, seqs, ts, [DELTA, DELTA, DELTA])
    _frame(layers, seqs, ts, [KEY, DELTA, DELTA])  # a keyframe in the low layer only
    assert len(low.packets) == 1 and not high.packets
    _frame(layers, seqs, ts, [DELTA, DELTA, KEY])
    assert len(low.packets) == 2 and len(high.packets) == 1
    assert high.packets[0].payload == KEY


async def test_a_switch_waits_for_the_new_layers_keyframe_and_keeps_seq_and_ts_continuous() -> None:
    layers, plis = _layers()
    wire = Wire()
    consumer = SimulcastConsumer(
        "auto", layers, wire, 96, 1, adaptation=Adaptation(warmup=0, down_after=0)
    )
    seqs, ts = [100, 65530, 7], [4000, 0xFFFFF000, 123456]  # the high layer's seq wraps
    _frame(layers, seqs, ts, [KEY, KEY, KEY])
    for _ in range(3):
        _frame(layers, seqs, ts, [DELTA, DELTA, DELTA])
    assert consumer.current == 2 and len(wire.packets) == 4
    for producer, rate in zip(layers, (150_000, 500_000, 1_500_000), strict=True):
        producer.bitrate = rate
    plis_before = len(plis[1])
    # under the high layer's 1.5 Mb/s, not climbing, for `down_after` s: one layer down
    for _ in range(3):
        consumer.on_bandwidth_estimate(400_000)
    assert consumer.target == 1 and len(plis[1]) > plis_before  # asked for its keyframe
    _frame(layers, seqs, ts, [DELTA, DELTA, DELTA])  # no keyframe yet: still the high layer
    assert consumer.current == 2 and len(wire.packets) == 5
    layers[2].receive(seqs[2], ts[2], 0, DELTA)  # a high picture half sent...
    seqs[2] += 1
    _frame(layers, seqs, ts, [DELTA, KEY, DELTA])  # ...then the middle layer's keyframe
    _frame(layers, seqs, ts, [DELTA, DELTA, DELTA])
    assert consumer.current == 1 and consumer.switches == 1
    assert [p.payload for p in wire.packets[-2:]] == [KEY, DELTA]
    out_seqs = [p.sequence_number for p in wire.packets]
    assert all((b - a) & 0xFFFF == 1 for a, b in itertools.pairwise(out_seqs))
    out_ts = [p.timestamp for p in wire.packets]
    assert all(ts_diff(b, a) >= 0 for a, b in itertools.pairwise(out_ts))
    assert ts_diff(out_ts[-2], out_ts[-3]) > 0  # the keyframe is a new picture
    assert ts_diff(out_ts[-1], out_ts[-2]) == 3000  # the new layer's own pace after it
    assert {p.ssrc for p in wire.packets} == {1}


async def test_nacks_are_answered_from_the_layer_each_sequence_number_came_from() -> None:
    layers, _ = _layers()
    wire = Wire()
    consumer = SimulcastConsumer("high", layers, wire, 96, 1, choice="high")
    seqs, ts = [1, 1000, 2000], [0, 0, 0]
    _frame(layers, seqs, ts, [KEY, KEY, KEY])
    layers[2].receive(seqs[2], ts[2], 1, CONT)
    seqs[2] += 1
    before = [(p.sequence_number, p.timestamp, p.payload) for p in wire.packets]
    consumer.choice = "low"
    consumer._preferred = 0
    consumer.set_target()
    _frame(layers, seqs, ts, [KEY, DELTA, DELTA])
    assert consumer.current == 0
    after = wire.packets[-1]
    n = len(wire.packets)
    consumer.on_nack([before[1][0], after.sequence_number, (after.sequence_number + 9) & 0xFFFF])
    resent = [(p.sequence_number, p.timestamp, p.payload) for p in wire.packets[n:]]
    assert resent == [before[1], (after.sequence_number, after.timestamp, after.payload)]
    assert consumer.retransmitted == 2 and consumer.nack_misses == 1


async def test_a_layer_the_publisher_turns_off_gives_way_to_the_one_below() -> None:
    layers, plis = _layers()
    wire = Wire()
    consumer = SimulcastConsumer("high", layers, wire, 96, 1, choice="high")
    now = time.monotonic()

    def packet(seq: int, payload: bytes, at: float) -> RelayPacket:
        return RelayPacket(seq, seq * 3000, 1, payload, payload == KEY, at)

    consumer.on_layer_packet(2, packet(1, KEY, now))
    consumer.on_layer_packet(1, packet(1, DELTA, now))
    assert consumer.current == 2
    # the high layer stops; the middle one goes on: its next keyframe takes over
    later = now + ALIVE + 0.5
    consumer.on_layer_packet(1, packet(2, DELTA, later))
    assert consumer.current == 2 and plis[1]  # asked for the middle layer's keyframe
    consumer.on_layer_packet(1, packet(3, KEY, later + 0.03))
    assert consumer.current == 1 and wire.packets[-1].payload == KEY
    # the high layer is back: at its keyframe, the viewer goes back up
    consumer.on_layer_packet(2, packet(5, DELTA, later + 0.06))
    consumer.on_layer_packet(2, packet(6, KEY, later + 0.1))
    assert consumer.current == 2 and consumer.switches == 2


async def test_auto_follows_a_falling_estimate_down_and_its_recovery_back_up() -> None:
    layers, _ = _layers()
    wire = Wire()
    consumer = SimulcastConsumer(
        "auto", layers, wire, 96, 1, adaptation=Adaptation(warmup=0, down_after=0)
    )
    seqs, ts = [1, 1, 1], [0, 0, 0]
    _frame(layers, seqs, ts, [KEY, KEY, KEY])
    for producer, rate in zip(layers, (150_000, 500_000, 1_500_000), strict=True):
        producer.bitrate = rate
    for estimate in (300_000, 600_000, 900_000, 1_200_000):  # climbing: no move
        consumer.on_bandwidth_estimate(estimate)
    assert consumer.target == 2
    for _ in range(3):
        consumer.on_bandwidth_estimate(300_000)
    assert consumer.target == 1
    _frame(layers, seqs, ts, [DELTA, KEY, DELTA])
    assert consumer.current == 1
    consumer.on_bandwidth_estimate(1_000_000)  # not room for 1.2 x 1.5 Mb/s yet
    assert consumer.target == 1
    consumer.on_bandwidth_estimate(2_000_000)
    assert consumer.target == 2
    _frame(layers, seqs, ts, [DELTA, DELTA, KEY])
    assert consumer.current == 2 and consumer.switches == 2
    # a viewer that chose a layer keeps it whatever its estimate
    fixed = SimulcastConsumer("low", layers, Wire(), 96, 2, choice="low")
    for _ in range(3):
        fixed.on_bandwidth_estimate(10_000_000)
    assert fixed.target == 0


async def test_the_track_carries_the_highest_layer_that_is_on() -> None:
    layers, plis = _layers()
    track = top_layer_track("t", layers)
    sink = Wire()
    Consumer("plain", track, sink, 96, 9)  # a single-layer viewer, or the recorder
    now = time.monotonic()

    def packet(seq: int, payload: bytes, at: float) -> RelayPacket:
        return RelayPacket(seq, seq * 3000, 1, payload, payload == KEY, at)

    feed_of = [p.sinks[0] for p in layers]  # what each layer feeds the track through
    # the top layer is off from the start (a camera too small for three): the middle one
    later = now + ALIVE + 0.1
    feed_of[1].send(packet(1, DELTA, later))
    assert plis[1]  # its keyframe asked for
    feed_of[1].send(packet(2, KEY, later + 0.03))
    feed_of[1].send(packet(3, DELTA, later + 0.06))
    assert [p.payload for p in sink.packets] == [KEY, DELTA]
    # the top layer comes on: from its keyframe on, the track is the top layer
    feed_of[2].send(packet(50, DELTA, later + 0.07))
    feed_of[2].send(packet(51, KEY, later + 0.1))
    feed_of[1].send(packet(4, DELTA, later + 0.1))
    assert [p.payload for p in sink.packets] == [KEY, DELTA, KEY]
    seqs = [p.sequence_number for p in sink.packets]
    assert all((b - a) & 0xFFFF == 1 for a, b in itertools.pairwise(seqs))
    # a viewer's keyframe request reaches the layer the track carries
    before = len(plis[2])
    track.request_keyframe()
    assert len(plis[2]) > before
    # the publisher leaves: its layers close, the track with them, and its sinks
    for producer in layers:
        producer.close()
    assert track.closed
