"""RTP up to a 1500-byte MTU gets through SRTP: a Consumer's packets of a 1400- and a
1480-byte publisher packet are protected whole and decrypt back to the same bytes; the
gateway's MID extension goes only where it keeps the datagram within the MTU."""

from __future__ import annotations

import os

import pylibsrtp
import pytest
from aiortc.rtp import RtpPacket

from media_gateway.aiortc_hooks import MAX_RTP_PACKET
from media_gateway.aiortc_hooks.srtp import BUFFER_SIZE, protector, unprotector, widen_session
from media_gateway.codecs import CodecInfo
from media_gateway.consumer import Consumer
from media_gateway.producer import Producer
from media_gateway.rtp import MTU, one_byte_extension_block

H264 = CodecInfo("video/h264", 90000)
IDR_START = bytes([0x7C, 0x85, 0x88])  # FU-A, start bit, IDR, first_mb_in_slice = 0
MID = one_byte_extension_block([(4, b"0")])  # what the gateway adds: 8 bytes
HEADER = 12


def _sessions(profile: int, viewers: int = 1) -> tuple[pylibsrtp.Session, list[pylibsrtp.Session]]:
    """A sender's session and its viewers', on one key, as DTLS-SRTP would give them."""
    key = os.urandom(46)  # long enough for any profile's master key + salt

    def policy(ssrc_type: int) -> pylibsrtp.Policy:
        p = pylibsrtp.Policy(key=key, ssrc_type=ssrc_type, srtp_profile=profile)
        p.allow_repeat_tx = True  # NACK answers resend a sequence number
        return p

    tx = pylibsrtp.Session(policy(pylibsrtp.Policy.SSRC_ANY_OUTBOUND))
    rx = [pylibsrtp.Session(policy(pylibsrtp.Policy.SSRC_ANY_INBOUND)) for _ in range(viewers)]
    return tx, rx


class ProtectingWire:
    """An RtpOutput that SRTP-protects as SenderOutput does, and keeps the datagrams."""

    def __init__(self, session: pylibsrtp.Session) -> None:
        self.session = session
        self.datagrams: list[bytes] = []

    def ready(self) -> bool:
        return True

    def send_rtp(self, data: bytes) -> bool:
        self.datagrams.append(self.session.protect(data))
        return True

    def set_sender_info(self, ntp: int, rtp_timestamp: int, packets: int, octets: int) -> None:
        pass


def _payload(rtp_size: int) -> bytes:
    """A keyframe-starting H.264 payload that makes a publisher packet of `rtp_size`."""
    return IDR_START + os.urandom(rtp_size - HEADER - len(IDR_START))


@pytest.mark.parametrize(
    "profile",
    [
        pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_80,
        pylibsrtp.Policy.SRTP_PROFILE_AEAD_AES_128_GCM,
    ],
    ids=["sha1-80", "gcm"],
)
@pytest.mark.parametrize(
    ("publisher_packet", "extension"),
    [(1400, MID), (1480, b"")],  # 1480 + 8 is more than MAX_PLAIN_RTP: no MID
    ids=["1400-with-mid", "1480-without"],
)
async def test_a_consumer_forwards_a_full_mtu_packet_protected_whole(
    publisher_packet: int, extension: bytes, profile: int
) -> None:
    # Two viewers' sessions (pylibsrtp's own buffers): one receives the packet, one lost
    # it and receives the NACK's answer (an SRTP receiver refuses a replayed index).
    tx, (received, lost) = _sessions(profile, viewers=2)
    widen_session(tx)
    wire = ProtectingWire(tx)
    producer = Producer("p", H264, lambda: None)
    consumer = Consumer("c", producer, wire, payload_type=102, ssrc=0xCAFE, extension_block=MID)
    payload = _payload(publisher_packet)
    producer.receive(7, 90000, 1, payload)
    consumer.on_nack([RtpPacket.parse(wire.datagrams[0]).sequence_number])  # header is clear
    plains = [received.unprotect(wire.datagrams[0]), lost.unprotect(wire.datagrams[1])]

    assert consumer.packets_sent == 2 and consumer.retransmitted == 1 and consumer.dropped == 0
    assert max(len(d) for d in wire.datagrams) <= MTU
    assert plains[0] == plains[1]
    for plain in plains:
        assert plain[HEADER:] == extension + payload
        parsed = RtpPacket.parse(plain)
        assert parsed.ssrc == 0xCAFE and parsed.payload_type == 102 and parsed.marker == 1


def test_pylibsrtps_own_buffer_refuses_what_the_gateway_sends() -> None:
    # The defect: 1356 bytes of RTP at most, so a 1400-byte packet plus MID failed.
    tx, _ = _sessions(pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_80)
    with pytest.raises(ValueError, match="too long"):
        tx.protect(bytes([0x90, 102]) + bytes(1406))


def test_a_widened_session_takes_rtp_up_to_the_mtu_in_both_directions() -> None:
    tx, (rx,) = _sessions(pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_80)
    widen_session(tx)
    widen_session(rx)
    widen_session(rx)  # idempotent
    # An RTX copy of a publisher packet at the MTU (2 bytes of OSN more) still fits.
    packet = bytes([0x80, 97, 0, 1]) + bytes(8) + os.urandom(MAX_RTP_PACKET - HEADER)
    protected = tx.protect(packet)
    assert len(protected) == MAX_RTP_PACKET + 10
    assert rx.unprotect(protected) == packet
    with pytest.raises(ValueError, match="too long"):
        tx.protect(packet + bytes(BUFFER_SIZE))


@pytest.mark.parametrize(
    "profile",
    [
        pylibsrtp.Policy.SRTP_PROFILE_AEAD_AES_256_GCM,
        pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_80,
    ],
)
def test_direct_protect_and_unprotect_are_pylibsrtps(profile: int) -> None:
    """The per-packet protect/unprotect the gateway calls give the bytes pylibsrtp's own
    give, take packets up to the widened buffer, and fail the same ways."""
    tx, (rx,) = _sessions(profile)
    for s in (tx, rx):
        widen_session(s)
    protect, unprotect = protector(tx), unprotector(rx)
    for seq, size in enumerate((100, 1200, MAX_RTP_PACKET)):
        plain = RtpPacket(
            payload_type=96, sequence_number=seq, ssrc=7, payload=os.urandom(size - HEADER)
        )
        data = plain.serialize()
        wire = protect(data)
        assert len(wire) > len(data)
        assert unprotect(wire) == data
    ours = protect(
        RtpPacket(payload_type=96, sequence_number=10, ssrc=7, payload=b"x" * 50).serialize()
    )
    with pytest.raises(pylibsrtp.Error):
        unprotect(ours[:-1] + bytes([ours[-1] ^ 1]))  # tag broken
    with pytest.raises(ValueError):
        protect(b"\x80" + bytes(MAX_RTP_PACKET + 200))


def test_direct_protect_matches_the_session_method() -> None:
    key = os.urandom(46)
    profile = pylibsrtp.Policy.SRTP_PROFILE_AEAD_AES_256_GCM
    a, b = (
        pylibsrtp.Session(
            pylibsrtp.Policy(
                key=key, ssrc_type=pylibsrtp.Policy.SSRC_ANY_OUTBOUND, srtp_profile=profile
            )
        )
        for _ in range(2)
    )
    protect = protector(a)
    for seq in range(5):
        data = RtpPacket(
            payload_type=96, sequence_number=seq, ssrc=9, payload=os.urandom(300)
        ).serialize()
        assert protect(data) == b.protect(data)
