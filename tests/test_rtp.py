"""RTP helpers, sequence mapping, packet cache and keyframe requests, on plain bytes."""

from __future__ import annotations

import asyncio
import fractions
import struct

import av
import pytest
from aiortc.codecs.h264 import H264Encoder
from aiortc.codecs.vpx import Vp8Encoder
from aiortc.rtcrtpparameters import RTCRtpHeaderExtensionParameters, RTCRtpParameters
from aiortc.rtp import HeaderExtensionsMap, RtpPacket

from media_gateway.keyframes import KeyframeRequester
from media_gateway.packet import PacketCache, RelayPacket
from media_gateway.rtp import (
    h264_is_keyframe_start,
    is_keyframe_start,
    keyframe_start_test,
    one_byte_extension_block,
    seq_diff,
    seq_newer,
    vp8_is_keyframe_start,
    vp8_keyframe_size,
    write_header,
)
from media_gateway.seqmap import SeqMapper

from .peers import VIDEO_CLOCK, encode_h264, encode_vp8

# ---------------------------------------------------------------- sequence arithmetic


def test_a_higher_sequence_number_is_newer() -> None:
    assert seq_newer(11, 10)
    assert not seq_newer(10, 11)
    assert not seq_newer(10, 10)


def test_sequence_numbers_are_newer_across_the_16_bit_wrap() -> None:
    assert seq_newer(0, 65535)
    assert seq_newer(5, 65530)
    assert not seq_newer(65535, 0)


def test_seq_diff_is_signed_and_wraps() -> None:
    assert seq_diff(10, 7) == 3
    assert seq_diff(7, 10) == -3
    assert seq_diff(2, 65534) == 4
    assert seq_diff(65534, 2) == -4
    assert seq_diff(100, 100) == 0


def test_seq_diff_stays_within_the_signed_16_bit_range() -> None:
    assert seq_diff(0x8000, 0) == -0x8000
    assert seq_diff(0x7FFF, 0) == 0x7FFF
    for a, b in [(0, 1), (1, 0), (0, 0xFFFF), (1234, 54321), (40000, 3)]:
        assert -0x8000 <= seq_diff(a, b) <= 0x7FFF
        assert (b + seq_diff(a, b)) & 0xFFFF == a


# ---------------------------------------------------------------- VP8

KEY_TAG = b"\x10\x02\x00\x9d\x01\x2a"  # frame tag with P=0 (keyframe), start code
DELTA_TAG = b"\x31\x02\x00"  # frame tag with P=1 (interframe)


def _vp8(
    start: bool = True,
    partition: int = 0,
    picture_id: int | None = None,
    long_id: bool = False,
    tl0: int | None = None,
    tid: int | None = None,
    keyidx: int | None = None,
) -> bytes:
    """An RFC 7741 payload descriptor built by hand."""
    ext = 0
    tail = b""
    if picture_id is not None:
        ext |= 0x80
        tail += struct.pack("!H", 0x8000 | picture_id) if long_id else bytes([picture_id])
    if tl0 is not None:
        ext |= 0x40
        tail += bytes([tl0])
    if tid is not None or keyidx is not None:
        ext |= (0x20 if tid is not None else 0) | (0x10 if keyidx is not None else 0)
        tail += bytes([((tid or 0) << 6) | (keyidx or 0)])
    first = (0x10 if start else 0) | partition
    if ext:
        return bytes([0x80 | first, ext]) + tail
    return bytes([first])


def test_a_vp8_keyframe_start_without_extension_is_detected() -> None:
    assert vp8_is_keyframe_start(_vp8() + KEY_TAG)


def test_a_vp8_delta_frame_is_not_a_keyframe_start() -> None:
    assert not vp8_is_keyframe_start(_vp8() + DELTA_TAG)
    assert not vp8_is_keyframe_start(_vp8(picture_id=5, long_id=True) + DELTA_TAG)


@pytest.mark.parametrize(
    "descriptor",
    [
        _vp8(picture_id=7),
        _vp8(picture_id=0x7F),
        _vp8(picture_id=0x1234, long_id=True),
        _vp8(picture_id=0x7FFF, long_id=True),
        _vp8(tl0=3),
        _vp8(tid=1),
        _vp8(keyidx=5),
        _vp8(tid=2, keyidx=1),
        _vp8(picture_id=7, tl0=1, tid=1, keyidx=3),
        _vp8(picture_id=300, long_id=True, tl0=9, tid=0),
    ],
)
def test_a_vp8_keyframe_start_is_found_behind_every_extension_field(descriptor: bytes) -> None:
    assert vp8_is_keyframe_start(descriptor + KEY_TAG)
    assert not vp8_is_keyframe_start(descriptor + DELTA_TAG)


def test_a_frame_tag_byte_that_only_looks_like_a_keyframe_is_not_misread() -> None:
    # The picture id byte 0x02 has bit 0 clear: reading it as the frame tag would
    # wrongly report a keyframe for this delta frame.
    assert not vp8_is_keyframe_start(_vp8(picture_id=2) + DELTA_TAG)
    assert not vp8_is_keyframe_start(_vp8(picture_id=0x0102, long_id=True) + DELTA_TAG)


def test_a_vp8_packet_that_does_not_start_a_frame_is_not_a_keyframe_start() -> None:
    assert not vp8_is_keyframe_start(_vp8(start=False) + KEY_TAG)
    assert not vp8_is_keyframe_start(_vp8(start=False, picture_id=9) + KEY_TAG)


def test_a_vp8_packet_starting_a_later_partition_is_not_a_keyframe_start() -> None:
    assert not vp8_is_keyframe_start(_vp8(partition=1) + KEY_TAG)


@pytest.mark.parametrize(
    "payload",
    [b"", b"\x90", b"\x90\x80", b"\x90\x80\x80", _vp8(picture_id=7), _vp8()],
)
def test_a_truncated_vp8_payload_is_not_a_keyframe_start(payload: bytes) -> None:
    assert not vp8_is_keyframe_start(payload)
    assert vp8_keyframe_size(payload) is None


def _packetize_vp8(frame: bytes) -> list[bytes]:
    packet = av.Packet(frame)
    packet.pts = 0
    packet.time_base = fractions.Fraction(1, VIDEO_CLOCK)
    payloads, _ = Vp8Encoder().pack(packet)
    return payloads


@pytest.mark.parametrize(("width", "height"), [(320, 240), (176, 144)])
def test_the_size_of_a_real_vp8_keyframe_is_read_from_its_first_packet(
    width: int, height: int
) -> None:
    frames = encode_vp8(2, width=width, height=height)
    key, delta = _packetize_vp8(frames[0]), _packetize_vp8(frames[1])
    assert vp8_is_keyframe_start(key[0])
    assert vp8_keyframe_size(key[0]) == (width, height)
    assert not vp8_is_keyframe_start(delta[0])
    assert vp8_keyframe_size(delta[0]) is None
    for later in key[1:]:
        assert not vp8_is_keyframe_start(later)
        assert vp8_keyframe_size(later) is None


def test_the_vp8_keyframe_size_is_read_behind_a_short_picture_id() -> None:
    payload = _vp8(picture_id=7, tl0=1) + KEY_TAG + struct.pack("<HH", 640, 360)
    assert vp8_keyframe_size(payload) == (640, 360)


def test_the_vp8_scaling_bits_are_not_part_of_the_size() -> None:
    payload = _vp8() + KEY_TAG + struct.pack("<HH", 0xC000 | 1280, 0x4000 | 720)
    assert vp8_keyframe_size(payload) == (1280, 720)


def test_a_vp8_keyframe_without_the_start_code_has_no_size() -> None:
    assert vp8_keyframe_size(_vp8() + b"\x10\x02\x00\x00\x00\x00" + b"\x00" * 4) is None


# ---------------------------------------------------------------- H.264

SPS = bytes([0x67, 0x42, 0xC0, 0x1F, 0xDA, 0x01])
PPS = bytes([0x68, 0xCE, 0x3C, 0x80])
IDR = bytes([0x65, 0x88, 0x84, 0x00, 0x33])  # first_mb_in_slice 0: the picture's first slice
IDR_LATER_SLICE = bytes([0x65, 0x01, 0x9C, 0x00, 0x33])  # first_mb_in_slice 399
NON_IDR = bytes([0x41, 0x9A, 0x02, 0x0C])
SEI = bytes([0x06, 0x05, 0x01, 0x00, 0x80])


def _stap_a(*nals: bytes) -> bytes:
    return b"\x78" + b"".join(struct.pack("!H", len(n)) + n for n in nals)


def _fu_a(nal: bytes, start: bool, end: bool) -> bytes:
    """One fragment of `nal`; the start fragment carries the slice header's first bytes."""
    indicator = (nal[0] & 0xE0) | 28
    header = (0x80 if start else 0) | (0x40 if end else 0) | (nal[0] & 0x1F)
    return bytes([indicator, header]) + (nal[1:] if start else b"\x11\x22\x33")


def test_a_single_sps_or_idr_nal_starts_an_h264_keyframe() -> None:
    assert h264_is_keyframe_start(SPS)
    assert h264_is_keyframe_start(IDR)


def test_single_non_idr_pps_and_sei_nals_do_not_start_an_h264_keyframe() -> None:
    assert not h264_is_keyframe_start(NON_IDR)
    assert not h264_is_keyframe_start(PPS)
    assert not h264_is_keyframe_start(SEI)
    assert not h264_is_keyframe_start(b"")


def test_a_stap_a_carrying_an_sps_starts_an_h264_keyframe() -> None:
    assert h264_is_keyframe_start(_stap_a(SPS, PPS))
    assert h264_is_keyframe_start(_stap_a(SEI, SPS, PPS))
    assert h264_is_keyframe_start(_stap_a(PPS, IDR))


def test_a_stap_a_without_sps_or_idr_does_not_start_an_h264_keyframe() -> None:
    assert not h264_is_keyframe_start(_stap_a(SEI, PPS))
    assert not h264_is_keyframe_start(_stap_a(NON_IDR, NON_IDR))


def test_a_truncated_stap_a_does_not_start_an_h264_keyframe() -> None:
    assert not h264_is_keyframe_start(b"\x78")
    assert not h264_is_keyframe_start(b"\x78\x00")
    assert not h264_is_keyframe_start(b"\x78\x00\x00\x67")


def test_only_the_first_fu_a_fragment_of_an_idr_starts_an_h264_keyframe() -> None:
    assert h264_is_keyframe_start(_fu_a(IDR, start=True, end=False))
    assert not h264_is_keyframe_start(_fu_a(IDR, start=False, end=False))
    assert not h264_is_keyframe_start(_fu_a(IDR, start=False, end=True))


def test_a_later_slice_of_an_idr_picture_does_not_start_an_h264_keyframe() -> None:
    # A viewer started there would miss the picture's first slices (and its SPS/PPS).
    assert not h264_is_keyframe_start(IDR_LATER_SLICE)
    assert not h264_is_keyframe_start(_fu_a(IDR_LATER_SLICE, start=True, end=False))
    assert not h264_is_keyframe_start(_stap_a(IDR_LATER_SLICE, IDR_LATER_SLICE))
    assert h264_is_keyframe_start(_stap_a(IDR, IDR_LATER_SLICE))


def test_an_fu_a_of_a_non_idr_slice_does_not_start_an_h264_keyframe() -> None:
    assert not h264_is_keyframe_start(_fu_a(NON_IDR, start=True, end=False))
    assert not h264_is_keyframe_start(b"\x7c")  # FU indicator without its header


def _packetize_h264(frames: list[bytes]) -> list[list[bytes]]:
    encoder = H264Encoder()
    out = []
    for i, frame in enumerate(frames):
        packet = av.Packet(frame)
        packet.pts = i * 3000
        packet.time_base = fractions.Fraction(1, VIDEO_CLOCK)
        payloads, _ = encoder.pack(packet)
        out.append(payloads)
    return out


def test_real_x264_output_packetized_by_aiortc_starts_keyframes_where_idrs_are() -> None:
    starts = [[h264_is_keyframe_start(p) for p in f] for f in _packetize_h264(encode_h264(31))]
    assert starts[0][0] and starts[30][0]
    for i in range(1, 30):
        assert not any(starts[i]), f"frame {i} is a delta frame"


def _starts_an_idr_slice(payload: bytes) -> bool:
    if payload[0] & 0x1F == 5:
        return True
    return payload[0] & 0x1F == 28 and payload[1] & 0x9F == 0x85


@pytest.mark.parametrize("slices", [1, 2, 4])
def test_no_packet_after_the_first_idr_slice_of_a_real_keyframe_is_a_start(slices: int) -> None:
    [keyframe] = _packetize_h264(encode_h264(1, slices=slices))
    idr_slices = [i for i, p in enumerate(keyframe) if _starts_an_idr_slice(p)]
    assert len(idr_slices) == slices
    # The STAP-A with SPS and PPS, and the packet starting the picture's first slice.
    starts = [i for i, p in enumerate(keyframe) if h264_is_keyframe_start(p)]
    assert starts == [0, idr_slices[0]], f"{len(keyframe)} packets, slices at {idr_slices}"


def test_is_keyframe_start_dispatches_on_the_mime_type() -> None:
    assert is_keyframe_start("video/VP8", _vp8() + KEY_TAG)
    assert not is_keyframe_start("video/vp8", _vp8() + DELTA_TAG)
    assert is_keyframe_start("video/H264", SPS)
    assert not is_keyframe_start("video/h264", NON_IDR)
    assert is_keyframe_start("audio/opus", b"\xfc\xff\xfe")


# ---------------------------------------------------------------- header writing

MID_URI = "urn:ietf:params:rtp-hdrext:sdes:mid"


def test_a_written_header_without_extension_parses_back() -> None:
    data = write_header(1, 96, 65535, 0xFFFFFFFF, 0xDEADBEEF, b"") + b"payload"
    packet = RtpPacket.parse(data)
    assert packet.version == 2
    assert packet.marker == 1
    assert packet.payload_type == 96
    assert packet.sequence_number == 65535
    assert packet.timestamp == 0xFFFFFFFF
    assert packet.ssrc == 0xDEADBEEF
    assert packet.payload == b"payload"
    assert packet.extensions.mid is None


def test_the_mid_extension_reads_back_with_aiortcs_extension_map() -> None:
    block = one_byte_extension_block([(4, b"1")])
    data = write_header(0, 111, 42, 1234, 7, block) + b"\x01\x02\x03"
    extensions = HeaderExtensionsMap()
    extensions.configure(
        RTCRtpParameters(headerExtensions=[RTCRtpHeaderExtensionParameters(id=4, uri=MID_URI)])
    )
    packet = RtpPacket.parse(data, extensions)
    assert packet.extensions.mid == "1"
    assert packet.marker == 0
    assert packet.payload_type == 111
    assert packet.sequence_number == 42
    assert packet.payload == b"\x01\x02\x03"


def test_several_extensions_and_long_values_are_padded_to_32_bits() -> None:
    block = one_byte_extension_block([(1, b"video"), (3, b"\x00\x01\x02")])
    assert len(block) % 4 == 0
    assert block[:2] == b"\xbe\xde"
    assert struct.unpack("!H", block[2:4])[0] * 4 == len(block) - 4
    extensions = HeaderExtensionsMap()
    extensions.configure(
        RTCRtpParameters(
            headerExtensions=[
                RTCRtpHeaderExtensionParameters(id=1, uri=MID_URI),
                RTCRtpHeaderExtensionParameters(
                    id=3, uri="http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"
                ),
            ]
        )
    )
    packet = RtpPacket.parse(write_header(0, 96, 1, 2, 3, block) + b"x", extensions)
    assert packet.extensions.mid == "video"
    assert packet.extensions.abs_send_time == 0x000102
    assert packet.payload == b"x"


def test_a_sixteen_byte_value_is_the_longest_one_byte_extension() -> None:
    value = b"abcdefghijklmnop"
    block = one_byte_extension_block([(2, value)])
    extensions = HeaderExtensionsMap()
    extensions.configure(
        RTCRtpParameters(headerExtensions=[RTCRtpHeaderExtensionParameters(id=2, uri=MID_URI)])
    )
    packet = RtpPacket.parse(write_header(0, 96, 1, 2, 3, block), extensions)
    assert packet.extensions.mid == value.decode()


def test_no_extensions_make_an_empty_block() -> None:
    assert one_byte_extension_block([]) == b""
    assert write_header(0, 96, 1, 2, 3, b"")[0] == 0x80


# ---------------------------------------------------------------- sequence mapping


def _feed(mapper: SeqMapper, packets: list[tuple[int, bool]]) -> list[int | None]:
    return [mapper.map(seq, drop) for seq, drop in packets]


def test_in_order_packets_pass_through_unchanged() -> None:
    assert _feed(SeqMapper(), [(s, False) for s in range(100, 110)]) == list(range(100, 110))


def test_padding_only_packets_are_dropped_without_leaving_holes() -> None:
    out = _feed(
        SeqMapper(),
        [(1, False), (2, False), (3, True), (4, True), (5, False), (6, True), (7, False)],
    )
    assert out == [1, 2, None, None, 3, None, 4]


def test_padding_at_the_very_start_is_dropped_too() -> None:
    assert _feed(SeqMapper(), [(10, True), (11, True), (12, False), (13, False)]) == [
        None,
        None,
        10,
        11,
    ]


def test_a_reordered_packet_fills_its_hole() -> None:
    out = _feed(SeqMapper(), [(1, False), (2, False), (4, False), (5, False), (3, False)])
    assert out == [1, 2, 4, 5, 3]


def test_a_reordered_packet_fills_its_hole_after_padding_was_dropped() -> None:
    mapper = SeqMapper()
    out = _feed(mapper, [(1, False), (2, True), (4, False), (5, True), (6, False), (3, False)])
    # 2 and 5 are padding; 1 3 4 6 become 1 2 3 4 whatever order 3 arrives in.
    assert out == [1, None, 3, None, 4, 2]


def test_a_duplicate_is_not_emitted_again() -> None:
    mapper = SeqMapper()
    assert _feed(mapper, [(1, False), (2, False), (3, False)]) == [1, 2, 3]
    assert mapper.map(3, False) is None
    assert mapper.map(2, False) is None


def test_a_late_packet_that_filled_its_hole_is_not_emitted_twice() -> None:
    mapper = SeqMapper()
    assert _feed(mapper, [(1, False), (3, False), (2, False)]) == [1, 3, 2]
    assert mapper.map(2, False) is None


def test_a_packet_older_than_the_first_one_is_not_emitted() -> None:
    mapper = SeqMapper()
    assert mapper.map(100, False) == 100
    assert mapper.map(99, False) is None


def test_sequence_mapping_wraps_at_16_bits() -> None:
    seqs = [65533, 65534, 65535, 0, 1, 2]
    assert _feed(SeqMapper(), [(s, False) for s in seqs]) == seqs


def test_sequence_mapping_wraps_at_16_bits_with_padding_dropped() -> None:
    out = _feed(SeqMapper(), [(65534, False), (65535, True), (0, False), (1, True), (2, False)])
    assert out == [65534, None, 65535, None, 0]


def test_a_hole_across_the_wrap_is_filled_by_its_late_packet() -> None:
    out = _feed(SeqMapper(), [(65534, False), (1, False), (65535, False), (0, False)])
    assert out == [65534, 1, 65535, 0]


def _cycle_with_a_lost_packet(mapper: SeqMapper) -> None:
    """Seq 1 is lost for good and seq 3 is padding, then in order up to the wrap."""
    assert _feed(mapper, [(0, False), (2, False), (3, True)]) == [0, 2, None]
    for seq in range(4, 65536):
        assert mapper.map(seq, False) == seq - 1


def test_a_duplicate_is_not_emitted_a_whole_sequence_cycle_after_a_loss() -> None:
    mapper = SeqMapper()
    _cycle_with_a_lost_packet(mapper)
    assert _feed(mapper, [(0, False), (1, False), (2, False)]) == [65535, 0, 1]
    # Seq 1 of this cycle already went out as 0; a network duplicate must not go out
    # again, let alone as 1, which belongs to seq 2.
    assert mapper.map(1, False) is None


def test_a_late_packet_behind_a_jump_beyond_the_reorder_window_gets_no_stale_number() -> None:
    mapper = SeqMapper()
    _cycle_with_a_lost_packet(mapper)
    assert mapper.map(2000, False) == 1999
    # 1 is too far back to be placed; the hole left by the lost seq 1 a cycle ago
    # must not give it the number 1 (which belongs to seq 2 of this cycle).
    assert mapper.map(1, False) is None


# ---------------------------------------------------------------- packet cache


def _packet(seq: int, payload: bytes = b"x") -> RelayPacket:
    return RelayPacket(seq, 0, 0, payload, False, 0.0)


def test_the_packet_cache_returns_what_was_put() -> None:
    cache = PacketCache(16)
    packets = [_packet(s, bytes([s])) for s in range(10)]
    for p in packets:
        cache.put(p)
    for p in packets:
        assert cache.get(p.seq) is p
    assert cache.get(10) is None


def test_a_newer_packet_overwrites_its_slot_and_the_old_one_is_gone() -> None:
    cache = PacketCache(16)
    old, new = _packet(3), _packet(19)
    cache.put(old)
    cache.put(new)
    assert cache.get(19) is new
    assert cache.get(3) is None


def test_the_packet_cache_works_across_the_16_bit_wrap() -> None:
    cache = PacketCache(16)
    for s in (65534, 65535, 0, 1):
        cache.put(_packet(s))
    assert [cache.get(s).seq for s in (65534, 65535, 0, 1)] == [65534, 65535, 0, 1]  # type: ignore[union-attr]


def test_a_cleared_packet_cache_is_empty() -> None:
    cache = PacketCache(16)
    cache.put(_packet(5))
    cache.clear()
    assert cache.get(5) is None


def test_the_packet_cache_size_must_be_a_power_of_two() -> None:
    with pytest.raises(ValueError, match="power of two"):
        PacketCache(1000)


# ---------------------------------------------------------------- keyframe requests

INTERVAL = 0.05


async def test_the_first_keyframe_request_is_sent_at_once() -> None:
    sent: list[float] = []
    requester = KeyframeRequester(lambda: sent.append(0), min_interval=INTERVAL)
    requester.request()
    assert len(sent) == 1
    requester.close()


async def test_many_requests_within_the_interval_make_one_send_now_and_one_later() -> None:
    sent: list[float] = []
    requester = KeyframeRequester(lambda: sent.append(0), min_interval=INTERVAL)
    for _ in range(20):
        requester.request()
    assert len(sent) == 1
    await asyncio.sleep(INTERVAL * 3)
    assert len(sent) == 2
    assert requester.sent == 2
    assert requester.coalesced == 19
    requester.close()


async def test_a_keyframe_arriving_meanwhile_cancels_the_deferred_request() -> None:
    sent: list[float] = []
    requester = KeyframeRequester(lambda: sent.append(0), min_interval=INTERVAL)
    requester.request()
    requester.request()
    requester.request()
    await asyncio.sleep(INTERVAL / 5)
    requester.keyframe_received()
    await asyncio.sleep(INTERVAL * 3)
    assert len(sent) == 1
    requester.close()


async def test_a_keyframe_from_before_the_deferred_request_does_not_cancel_it() -> None:
    sent: list[float] = []
    requester = KeyframeRequester(lambda: sent.append(0), min_interval=INTERVAL)
    requester.request()
    requester.keyframe_received()
    await asyncio.sleep(INTERVAL / 5)
    requester.request()
    await asyncio.sleep(INTERVAL * 3)
    assert len(sent) == 2
    requester.close()


async def test_requests_spaced_wider_than_the_interval_are_each_sent_at_once() -> None:
    sent: list[float] = []
    requester = KeyframeRequester(lambda: sent.append(0), min_interval=INTERVAL)
    for expected in (1, 2, 3):
        requester.request()
        assert len(sent) == expected
        await asyncio.sleep(INTERVAL * 1.5)
    assert requester.coalesced == 0
    requester.close()


async def test_closing_the_requester_cancels_a_deferred_request() -> None:
    sent: list[float] = []
    requester = KeyframeRequester(lambda: sent.append(0), min_interval=INTERVAL)
    requester.request()
    requester.request()
    requester.close()
    await asyncio.sleep(INTERVAL * 3)
    assert len(sent) == 1


@pytest.mark.parametrize(("width", "height"), [(320, 240), (1280, 720), (640, 360)])
def test_the_h264_picture_size_is_read_from_the_packet_carrying_the_sps(
    width: int, height: int
) -> None:
    from media_gateway.rtp import keyframe_size

    keyframe = encode_h264(1, width=width, height=height)[0]
    packet = av.Packet(keyframe)
    packet.pts = 0
    packet.time_base = fractions.Fraction(1, VIDEO_CLOCK)
    payloads, _ = H264Encoder().pack(packet)
    sizes = [keyframe_size("video/h264", p) for p in payloads]
    assert (width, height) in sizes


def test_the_per_codec_keyframe_test_is_is_keyframe_start() -> None:
    """What the producer calls per packet, chosen once per codec, says what
    is_keyframe_start says."""
    cases = {
        "video/VP8": [_vp8() + KEY_TAG, _vp8() + DELTA_TAG, _vp8(picture_id=2) + DELTA_TAG],
        "video/H264": [IDR, IDR_LATER_SLICE, NON_IDR, b""],
        "audio/opus": [b"\xfc\x01", b""],
    }
    for mime, payloads in cases.items():
        test = keyframe_start_test(mime)
        for payload in payloads:
            assert test(payload) == is_keyframe_start(mime, payload), (mime, payload)
