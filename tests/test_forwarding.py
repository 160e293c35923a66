"""Producer → Consumer forwarding logic with plain bytes (no network)."""

from __future__ import annotations

from aiortc.rtp import RtcpPacket, RtcpSenderInfo, RtcpSrPacket, RtpPacket

from media_gateway.aiortc_hooks import SenderReports
from media_gateway.codecs import CodecInfo
from media_gateway.consumer import Consumer
from media_gateway.packet import RelayPacket
from media_gateway.producer import Producer

VP8 = CodecInfo("video/vp8", 90000)
KEY = bytes([0x10, 0x00, 0x00, 0x00])  # S=1, PID=0, frame tag bit 0 = 0: keyframe start
DELTA = bytes([0x10, 0x01, 0x00, 0x00])  # frame tag bit 0 = 1: interframe
CONT = bytes([0x00, 0xAA, 0xBB])  # continuation of a frame


class Wire:
    """An RtpOutput that keeps what it was asked to send."""

    def __init__(self) -> None:
        self.packets: list[RtpPacket] = []
        self.sender_info: tuple[int, int, int, int] | None = None
        self.up = True

    def ready(self) -> bool:
        return self.up

    def send_rtp(self, data: bytes) -> bool:
        self.packets.append(RtpPacket.parse(data))
        return True

    def set_sender_info(self, ntp: int, rtp_timestamp: int, packets: int, octets: int) -> None:
        self.sender_info = (ntp, rtp_timestamp, packets, octets)


class ReportSink:
    """A PacketSink that keeps the sender reports it is given."""

    def __init__(self) -> None:
        self.reports: list[tuple[int, int]] = []

    def send(self, packet: RelayPacket) -> None:
        pass

    def sender_report(self, ntp: int, rtp_timestamp: int) -> None:
        self.reports.append((ntp, rtp_timestamp))

    def close(self) -> None:
        pass


def _producer() -> tuple[Producer, list[int]]:
    plis: list[int] = []
    return Producer("p", VP8, lambda: plis.append(1)), plis


async def test_consumer_starts_on_a_keyframe_and_rewrites_ssrc_pt_seq_and_timestamp() -> None:
    producer, _ = _producer()
    wire = Wire()
    Consumer("c", producer, wire, payload_type=120, ssrc=0xCAFE)
    producer.receive(100, 9000, 1, DELTA)  # dropped: the viewer cannot decode it yet
    producer.receive(101, 12000, 0, KEY)
    producer.receive(102, 12000, 1, CONT)
    producer.receive(103, 15000, 1, DELTA)
    assert [p.payload for p in wire.packets] == [KEY, CONT, DELTA]
    assert {p.ssrc for p in wire.packets} == {0xCAFE}
    assert {p.payload_type for p in wire.packets} == {120}
    seqs = [p.sequence_number for p in wire.packets]
    assert seqs == [seqs[0], (seqs[0] + 1) & 0xFFFF, (seqs[0] + 2) & 0xFFFF]
    ts = [p.timestamp for p in wire.packets]
    assert (ts[2] - ts[0]) & 0xFFFFFFFF == 3000 and ts[0] == ts[1]
    assert [p.marker for p in wire.packets] == [0, 1, 1]


async def test_nack_is_answered_from_the_producer_cache_with_identical_bytes() -> None:
    producer, _ = _producer()
    wire = Wire()
    consumer = Consumer("c", producer, wire, payload_type=96, ssrc=1)
    producer.receive(1, 0, 0, KEY)
    producer.receive(2, 0, 1, CONT)
    first = wire.packets[1]
    consumer.on_nack([first.sequence_number, (first.sequence_number + 50) & 0xFFFF])
    resent = wire.packets[2]
    assert (resent.sequence_number, resent.timestamp, resent.payload) == (
        first.sequence_number,
        first.timestamp,
        first.payload,
    )
    assert consumer.retransmitted == 1 and consumer.nack_misses == 1


async def test_padding_packets_are_not_forwarded_and_leave_no_sequence_hole() -> None:
    producer, _ = _producer()
    wire = Wire()
    Consumer("c", producer, wire, payload_type=96, ssrc=1)
    producer.receive(10, 0, 0, KEY)
    producer.receive(11, 0, 0, b"")  # padding-only probe
    producer.receive(12, 0, 1, CONT)
    seqs = [p.sequence_number for p in wire.packets]
    assert len(seqs) == 2 and (seqs[1] - seqs[0]) & 0xFFFF == 1


async def test_viewer_keyframe_requests_reach_the_publisher_coalesced() -> None:
    producer, plis = _producer()
    consumers = [Consumer(f"c{i}", producer, Wire(), 96, i) for i in range(5)]
    for c in consumers:
        c.on_keyframe_request()
    assert len(plis) == 1  # the other four are folded into at most one deferred request
    producer.close()


async def test_sender_report_maps_wall_clock_into_the_consumers_timebase() -> None:
    producer, _ = _producer()
    wire = Wire()
    consumer = Consumer("c", producer, wire, payload_type=96, ssrc=1)
    producer.receive(1, 50_000, 1, KEY)
    producer.on_sender_report(ntp=(3_900_000_000 << 32), rtp_timestamp=50_000)
    consumer.refresh_sender_report()
    assert wire.sender_info is not None
    ntp, rtp, packets, _ = wire.sender_info
    offset = (wire.packets[0].timestamp - 50_000) & 0xFFFFFFFF
    elapsed = (ntp - (3_900_000_000 << 32)) / (1 << 32)
    expected = (50_000 + round(elapsed * 90000) + offset) & 0xFFFFFFFF
    assert rtp == expected and packets == 1


async def test_closing_a_producer_closes_its_consumers() -> None:
    producer, _ = _producer()
    closed: list[str] = []
    for i in range(3):
        Consumer(f"c{i}", producer, Wire(), 96, i).on_close(lambda c: closed.append(c.id))
    producer.close()
    producer.close()
    assert sorted(closed) == ["c0", "c1", "c2"]
    assert producer.sinks == []


def _sr(ssrc: int, ntp: int, rtp: int) -> RtcpSrPacket:
    """A sender report as it comes off the wire: packed, then parsed by aiortc."""
    info = RtcpSenderInfo(ntp_timestamp=ntp, rtp_timestamp=rtp, packet_count=1, octet_count=100)
    (packet,) = RtcpPacket.parse(bytes(RtcpSrPacket(ssrc=ssrc, sender_info=info)))
    assert isinstance(packet, RtcpSrPacket)
    return packet


async def test_a_sender_report_reaches_only_its_own_track_and_a_zeroed_one_no_sink() -> None:
    delivered: list[tuple[int, int, int]] = []
    reports = SenderReports(lambda ssrc, ntp, rtp: delivered.append((ssrc, ntp, rtp)))
    reports.report(_sr(0xAAAA, 3_900_000_000 << 32, 7))  # before the first RTP packet
    reports.report(_sr(0xBBBB, 3_900_000_001 << 32, 9))  # the RTX stream's, say
    assert delivered == []
    reports.media(0xAAAA)  # the first RTP packet names the track's SSRC
    assert delivered == [(0xAAAA, 3_900_000_000 << 32, 7)]
    reports.report(_sr(0xBBBB, 3_900_000_002 << 32, 11))  # another SSRC: not this track's
    reports.report(_sr(0xAAAA, 3_900_000_003 << 32, 13))
    assert delivered[1:] == [(0xAAAA, 3_900_000_003 << 32, 13)]

    # aiortc's zeroed report (NTP 0, RTP 0) is filtered at the producer, for every sink.
    producer, _ = _producer()
    sinks = [ReportSink(), ReportSink()]
    for sink in sinks:
        producer.add_sink(sink)
    producer.receive(1, 50_000, 1, KEY)
    zeroed = _sr(0xAAAA, 0, 0).sender_info
    producer.on_sender_report(zeroed.ntp_timestamp, zeroed.rtp_timestamp)
    producer.on_sender_report(3_900_000_000 << 32, 50_000)
    producer.on_sender_report(zeroed.ntp_timestamp, zeroed.rtp_timestamp)
    assert [s.reports for s in sinks] == [[(3_900_000_000 << 32, 50_000)]] * 2
    assert producer.rtp_time_at(3_900_000_000 << 32) == 50_000  # the mapping is kept
    producer.close()
