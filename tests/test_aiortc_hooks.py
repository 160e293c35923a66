"""The aiortc/aioice/pylibsrtp internals the gateway reaches into are where it expects
them."""

from __future__ import annotations

import aioice.ice
import pylibsrtp
import pytest
from aiortc import RTCRtpReceiver, RTCRtpSender
from aiortc.rtcdtlstransport import RTCDtlsTransport

from media_gateway.aiortc_hooks import check_compatibility


def test_the_pinned_aiortc_and_aioice_have_every_internal_the_gateway_uses() -> None:
    check_compatibility()


@pytest.mark.parametrize(
    ("owner", "name"),
    [
        (RTCRtpReceiver, "_send_rtcp_pli"),
        (RTCRtpReceiver, "_handle_rtp_packet"),
        (RTCRtpSender, "_handle_rtcp_packet"),
        (RTCDtlsTransport, "_send_rtp"),
        (RTCDtlsTransport, "_setup_srtp"),
    ],
)
def test_a_missing_method_fails_the_check_naming_it(
    monkeypatch: pytest.MonkeyPatch, owner: type, name: str
) -> None:
    monkeypatch.delattr(owner, name)
    with pytest.raises(RuntimeError, match=rf"{owner.__name__}\.{name}\b"):
        check_compatibility()


def test_a_missing_aioice_function_fails_the_check_naming_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delattr(aioice.ice, "StunProtocol")
    with pytest.raises(RuntimeError, match=r"StunProtocol"):
        check_compatibility()


def test_a_changed_host_address_signature_fails_the_check(monkeypatch: pytest.MonkeyPatch) -> None:
    def get_host_addresses(ipv4: bool, ipv6: bool) -> list[str]:
        return []

    monkeypatch.setattr(aioice.ice, "get_host_addresses", get_host_addresses)
    with pytest.raises(RuntimeError, match=r"get_host_addresses\(use_ipv4, use_ipv6\)"):
        check_compatibility()


def test_a_sender_report_loop_that_no_longer_reads_our_values_fails_the_check(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def _run_rtcp(self: RTCRtpSender) -> None:
        return None

    monkeypatch.setattr(RTCRtpSender, "_run_rtcp", _run_rtcp)
    with pytest.raises(RuntimeError, match=r"_run_rtcp no longer reads __ntp_timestamp"):
        check_compatibility()


def test_a_pylibsrtp_session_without_its_buffer_fails_the_check(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    class Session:  # a pylibsrtp whose sessions keep their buffer elsewhere
        def __init__(self) -> None:
            self._memory = bytearray(1500)

    monkeypatch.setattr(pylibsrtp, "Session", Session)
    with pytest.raises(RuntimeError, match=r"pylibsrtp\.Session self\._cdata\b"):
        check_compatibility()


def test_every_problem_is_named_in_one_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(RTCRtpReceiver, "_send_rtcp_pli")
    monkeypatch.delattr(RTCRtpReceiver, "_send_rtcp_nack")
    with pytest.raises(RuntimeError) as info:
        check_compatibility()
    message = str(info.value)
    assert "RTCRtpReceiver._send_rtcp_pli" in message
    assert "RTCRtpReceiver._send_rtcp_nack" in message
