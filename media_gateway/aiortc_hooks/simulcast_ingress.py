"""Simulcast ingress: one receiver, several RTP streams told apart by their rid
(RFC 8852 rtp-stream-id; RTX by repaired-rtp-stream-id). aiortc keeps one media SSRC per
receiver and has no simulcast receive; here each layer gets its own SSRC, NACK state,
keyframe requests and sender reports, and its packets go to that layer's Producer."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from aiortc import RTCRtpReceiver
from aiortc.rate import RemoteBitrateEstimator
from aiortc.rtcrtpparameters import RTCRtpCodecParameters, RTCRtpHeaderExtensionParameters
from aiortc.rtcrtpreceiver import NackGenerator, StreamStatistics
from aiortc.rtcrtptransceiver import RTCRtpTransceiver
from aiortc.rtp import (
    RTCP_PSFB_APP,
    RtcpPsfbPacket,
    RtcpSrPacket,
    RtpPacket,
    pack_remb_fci,
    unwrap_rtx,
)

from .ingress import SenderReports

logger = logging.getLogger(__name__)

OnLayerPacket = Callable[[int, RTCRtpCodecParameters, RtpPacket], None]  # layer index
OnLayerReport = Callable[[int, int, int], None]  # layer index, ntp, rtp timestamp

_RX = "_RTCRtpReceiver__"


def add_negotiated_extensions(transceiver: RTCRtpTransceiver, extensions: dict[str, int]) -> None:
    """Negotiate header extensions aiortc does not offer itself (the rid ones), with the
    offer's ids: the answer then lists them, and the transport parses them."""
    known = {ext.uri for ext in transceiver._headerExtensions}
    for uri, ext_id in extensions.items():
        if uri not in known:
            transceiver._headerExtensions.append(RTCRtpHeaderExtensionParameters(ext_id, uri))


class LayerIngress:
    """One simulcast layer's receive side: what a Producer reads as `ingress`."""

    def __init__(self, tap: SimulcastIngestTap, index: int, rid: str) -> None:
        self._tap = tap
        self.index = index
        self.rid = rid
        self.media_ssrc: int | None = None
        self.nack = NackGenerator()
        self.nacks_sent = 0
        self.reports = SenderReports(lambda _ssrc, ntp, rtp: tap.report_for(index, ntp, rtp))

    @property
    def packets_lost(self) -> int:
        stats = self._tap.stream_stats(self.media_ssrc)
        return max(0, stats.packets_lost) if stats is not None else 0

    def request_keyframe(self) -> None:
        if self.media_ssrc is not None:
            self._tap.send_pli(self.media_ssrc)


class SimulcastIngestTap:
    """Takes over a receiver's RTP like IngestTap, for a simulcast video track: packets
    go to `on_packet` with the index of their layer (rids in offer order, lowest first)."""

    def __init__(
        self,
        receiver: RTCRtpReceiver,
        codecs: Sequence[RTCRtpCodecParameters],
        rids: Sequence[str],
        on_packet: OnLayerPacket,
        on_sender_report: OnLayerReport,
        min_estimate: int = 0,
    ) -> None:
        self._receiver = receiver
        self._codecs = {c.payloadType: c for c in codecs}
        self._on_packet = on_packet
        self._on_report = on_sender_report
        self.layers = [LayerIngress(self, i, rid) for i, rid in enumerate(rids)]
        self._by_rid = {layer.rid: layer for layer in self.layers}
        self._media: dict[int, LayerIngress] = {}  # media SSRC -> layer
        self._rtx: dict[int, LayerIngress] = {}  # RTX SSRC -> layer
        self._remb = RemoteBitrateEstimator()
        self._min_estimate = min_estimate
        self._streams: dict[int, StreamStatistics] = getattr(receiver, _RX + "remote_streams")
        self._original_rtcp = receiver._handle_rtcp_packet
        self._tasks: set[asyncio.Future[None]] = set()
        receiver._handle_rtp_packet = self._handle_rtp  # type: ignore[method-assign]
        receiver._handle_rtcp_packet = self._handle_rtcp  # type: ignore[method-assign]

    @property
    def packets_lost(self) -> int:
        return sum(layer.packets_lost for layer in self.layers)

    @property
    def nacks_sent(self) -> int:
        return sum(layer.nacks_sent for layer in self.layers)

    @property
    def payload_types(self) -> list[int]:
        return [pt for pt in self._codecs if pt is not None]

    async def _handle_rtp(self, packet: RtpPacket, arrival_time_ms: int) -> None:
        self.process(packet, arrival_time_ms)

    def process(self, packet: RtpPacket, arrival_time_ms: int) -> None:
        codec = self._codecs.get(packet.payload_type)
        if codec is None:
            return
        stats = self._streams.get(packet.ssrc)
        if stats is None:
            stats = self._streams[packet.ssrc] = StreamStatistics(codec.clockRate)
        stats.add(packet)
        self._estimate(packet, arrival_time_ms)
        rtx = codec.mimeType.lower() == "video/rtx"
        layer = (self._rtx if rtx else self._media).get(packet.ssrc) or self._learn(packet, rtx)
        if layer is None:
            return  # no rid seen yet for this SSRC: its layer is unknown
        if rtx:
            apt = codec.parameters.get("apt")
            if layer.media_ssrc is None or len(packet.payload) < 2 or not isinstance(apt, int):
                return
            if apt not in self._codecs:
                return
            packet = unwrap_rtx(packet, payload_type=apt, ssrc=layer.media_ssrc)
            codec = self._codecs[apt]
        if layer.nack.add(packet):
            layer.nacks_sent += 1
            self._spawn(self._receiver._send_rtcp_nack(packet.ssrc, sorted(layer.nack.missing)))
        self._on_packet(layer.index, codec, packet)

    def _learn(self, packet: RtpPacket, rtx: bool) -> LayerIngress | None:
        ext = packet.extensions
        layer = self._by_rid.get((ext.repaired_rtp_stream_id if rtx else ext.rtp_stream_id) or "")
        if layer is None:
            return None
        if rtx:
            self._rtx[packet.ssrc] = layer
        else:
            if layer.media_ssrc is not None:
                self._media.pop(layer.media_ssrc, None)  # the publisher restarted the layer
            self._media[packet.ssrc] = layer
            layer.media_ssrc = packet.ssrc
            layer.nack = NackGenerator()
            layer.reports.media(packet.ssrc)
            # aiortc routes a sender report by the SSRCs it knows; rid layers are not
            # signalled by SSRC, so name this one to the transport's router.
            transport = self._receiver.transport
            transport._rtp_router.ssrc_table[packet.ssrc] = self._receiver
        return layer

    def _estimate(self, packet: RtpPacket, arrival_time_ms: int) -> None:
        """REMB to the publisher over all layers: a sender's simulcast allocation follows
        it; never under `min_estimate` (MediaSettings.simulcast_publisher_bitrate)."""
        if packet.extensions.abs_send_time is None:
            return
        remb = self._remb.add(
            abs_send_time=packet.extensions.abs_send_time,
            arrival_time_ms=arrival_time_ms,
            payload_size=len(packet.payload) + packet.padding_size,
            ssrc=packet.ssrc,
        )
        rtcp_ssrc = getattr(self._receiver, _RX + "rtcp_ssrc")
        if remb is not None and rtcp_ssrc is not None:
            remb = (max(remb[0], self._min_estimate), remb[1])
            self._spawn(
                self._receiver._send_rtcp(
                    RtcpPsfbPacket(
                        fmt=RTCP_PSFB_APP, ssrc=rtcp_ssrc, media_ssrc=0, fci=pack_remb_fci(*remb)
                    )
                )
            )

    def stream_stats(self, ssrc: int | None) -> StreamStatistics | None:
        return self._streams.get(ssrc) if ssrc is not None else None

    def report_for(self, index: int, ntp: int, rtp_timestamp: int) -> None:
        self._on_report(index, ntp, rtp_timestamp)

    async def _handle_rtcp(self, packet: Any) -> None:
        await self._original_rtcp(packet)
        if isinstance(packet, RtcpSrPacket):
            layer = self._media.get(packet.ssrc)
            if layer is not None:
                layer.reports.report(packet)

    def send_pli(self, ssrc: int) -> None:
        self._spawn(self._receiver._send_rtcp_pli(ssrc))

    def _spawn(self, coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
