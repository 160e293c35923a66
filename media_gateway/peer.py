"""WebRTC peers of the gateway: a publisher (WHIP) and a subscriber (WHEP).

aiortc negotiates ICE, DTLS and SDP; aiortc_hooks takes the RTP path over so media is
forwarded, never decoded or encoded.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable

from aiortc import (
    RTCConfiguration,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.exceptions import OperationError
from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from aiortc.rtcrtptransceiver import RTCRtpTransceiver

from . import aiortc_hooks as hooks
from .codecs import RTX_MIME, SUPPORTED_MIME, CodecInfo, codec_matches
from .consumer import Consumer
from .errors import BadOffer, NoUsableCodec
from .ice import ice_servers
from .producer import Producer
from .rtp import one_byte_extension_block
from .settings import MediaSettings
from .simulcast import LayerChoice, SimulcastConsumer, top_layer_track
from .simulcast_sdp import SimulcastOffer, answer_with_simulcast, offered_simulcast

logger = logging.getLogger(__name__)

MID_URI = "urn:ietf:params:rtp-hdrext:sdes:mid"


def _codec_info(codec: RTCRtpCodecParameters) -> CodecInfo:
    return CodecInfo(
        mime=codec.mimeType.lower(),
        clock_rate=codec.clockRate,
        channels=codec.channels,
        parameters={k: str(v) for k, v in codec.parameters.items()},
    )


def _keep(
    codecs: list[RTCRtpCodecParameters], wanted: Callable[[RTCRtpCodecParameters], bool]
) -> list[RTCRtpCodecParameters]:
    """The wanted codecs, plus the RTX entries that protect them."""
    kept = [c for c in codecs if c.mimeType.lower() != RTX_MIME and wanted(c)]
    pts = {c.payloadType for c in kept}
    rtx = [c for c in codecs if c.mimeType.lower() == RTX_MIME and c.parameters.get("apt") in pts]
    return kept + rtx


def _params(codec: RTCRtpCodecParameters) -> dict[str, str]:
    return {k: str(v) for k, v in codec.parameters.items()}


def _primary(codecs: list[RTCRtpCodecParameters]) -> RTCRtpCodecParameters | None:
    return next((c for c in codecs if c.mimeType.lower() != RTX_MIME), None)


class Peer:
    """Common lifecycle: an RTCPeerConnection that closes itself on failure or timeout."""

    def __init__(self, settings: MediaSettings, on_closed: Callable[[Peer], None]) -> None:
        self.id = uuid.uuid4().hex[:16]
        self.settings = settings
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=ice_servers(settings, self.id)))
        self.closed = False
        self._on_closed = on_closed
        self._close_task: asyncio.Task[None] | None = None
        self._router_gone = False  # set by router_closed(): never call the router back
        self._shut_done = asyncio.Event()
        self._timeout: asyncio.TimerHandle | None = None
        self.pc.on("connectionstatechange", self._state_changed)

    @property
    def answer_sdp(self) -> str:
        return self.pc.localDescription.sdp

    async def _negotiate(self, offer_sdp: str, prepare: Callable[[], None]) -> None:
        hooks.use_gateway_certificate(self.pc)
        try:
            await self.pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
        except OperationError as exc:  # no codec in common for some m-line
            raise NoUsableCodec(f"no usable codec in the offer: {exc}") from exc
        except Exception as exc:  # aiortc raises many types (even bare asserts) for bad SDP
            raise BadOffer(f"unparsable SDP offer: {exc or type(exc).__name__}") from exc
        if not self.pc.getTransceivers():
            raise BadOffer("the offer has no audio or video section")
        hooks.prefer_dtls_server(self.pc)
        prepare()
        try:
            answer = await self.pc.createAnswer()
            await self.pc.setLocalDescription(answer)
        except Exception as exc:
            raise BadOffer(f"cannot answer this offer: {exc}") from exc
        hooks.tune_socket_buffers(
            self.pc, self.settings.udp_receive_buffer, self.settings.udp_send_buffer
        )
        hooks.allow_full_mtu(self.pc)  # before the DTLS handshake makes the SRTP sessions
        self._timeout = asyncio.get_running_loop().call_later(
            self.settings.connect_timeout, self._connect_timed_out
        )

    def _connect_timed_out(self) -> None:
        if self.pc.connectionState != "connected":
            logger.info("peer %s did not connect in time", self.id)
            self.close_soon()

    def _state_changed(self) -> None:
        state = self.pc.connectionState
        if state == "connected":
            if self._timeout is not None:
                self._timeout.cancel()
            self.on_connected()
        elif state in ("failed", "closed"):
            self.close_soon()

    def on_connected(self) -> None:
        pass

    def close_soon(self) -> None:
        if self._close_task is None and not self.closed:
            self._close_task = asyncio.ensure_future(self.close())

    def _close_media(self) -> None:
        pass

    async def close(self) -> None:
        """Idempotent. The peer ends on its own (DELETE, failure, timeout): it cleans up,
        then tells its router, unless the router is the one closing it."""
        if await self._shut():
            self._on_closed(self)

    async def router_closed(self) -> None:
        """The router is closing: clean up and tell no one (mediasoup's `routerClosed`).
        Idempotent; also silences a `close()` already under way."""
        self._router_gone = True
        await self._shut()
        await self._shut_done.wait()  # a close() already under way: wait for it too

    async def _shut(self) -> bool:
        """Media objects first, then the peer connection; False if already closed, or if
        the router closed while the peer connection was closing."""
        if self.closed:
            return False
        self.closed = True
        if self._timeout is not None:
            self._timeout.cancel()
        try:
            self._close_media()
        except Exception:
            logger.exception("closing the media of peer %s", self.id)
        try:
            await self.pc.close()
        except Exception:
            logger.exception("closing peer connection %s", self.id)
        finally:
            self._shut_done.set()
        return not self._router_gone


class IngestPeer(Peer):
    """A peer whose incoming tracks become Producers, never decoded: a publisher (WHIP)
    or an upstream (this gateway viewing another node's stream over WHEP)."""

    def __init__(self, settings: MediaSettings, on_closed: Callable[[Peer], None]) -> None:
        super().__init__(settings, on_closed)
        self.producers: dict[str, Producer] = {}
        # a simulcast track's layers, lowest first; producers[kind] carries the highest on
        self.layers: dict[str, list[Producer]] = {}
        self._taps: list[hooks.RtpTap] = []

    def _tap(self, t: RTCRtpTransceiver) -> None:
        """Take over a receiving transceiver's RTP, if its codec is one we forward (one
        audio and one video track per stream)."""
        codecs = hooks.negotiated_codecs(t)
        primary = _primary(codecs)
        if primary is None or primary.mimeType.lower() not in SUPPORTED_MIME:
            return
        if t.kind in self.producers:
            return
        tap: hooks.IngestTap | None = None

        def request_keyframe() -> None:
            if tap is not None:
                tap.request_keyframe()

        producer = Producer(f"{self.id}-{t.kind}", _codec_info(primary), request_keyframe)

        def on_packet(codec: RTCRtpCodecParameters, packet: hooks.RtpPacket) -> None:
            producer.receive(
                packet.sequence_number, packet.timestamp, packet.marker, packet.payload
            )

        def on_sender_report(ssrc: int, ntp: int, rtp_ts: int) -> None:
            producer.on_sender_report(ntp, rtp_ts)

        tap = hooks.IngestTap(t.receiver, codecs, on_packet, on_sender_report)
        producer.ingress = tap  # loss and NACKs sent, read by the node's metrics
        self._taps.append(tap)
        self.producers[t.kind] = producer

    def _tap_simulcast(self, t: RTCRtpTransceiver, offer: SimulcastOffer) -> bool:
        """A video track sent in rid layers: one Producer per layer, lowest first."""
        codecs = hooks.negotiated_codecs(t)
        primary = _primary(codecs)
        if primary is None or primary.mimeType.lower() not in SUPPORTED_MIME:
            return False
        if t.kind != "video" or t.kind in self.producers:
            return False
        taps: list[hooks.SimulcastIngestTap] = []

        def keyframe_requester(index: int) -> Callable[[], None]:
            return lambda: taps[0].layers[index].request_keyframe() if taps else None

        layers = [
            Producer(f"{self.id}-video-{rid}", _codec_info(primary), keyframe_requester(i))
            for i, rid in enumerate(offer.rids)
        ]

        def on_packet(index: int, codec: RTCRtpCodecParameters, packet: hooks.RtpPacket) -> None:
            layers[index].receive(
                packet.sequence_number, packet.timestamp, packet.marker, packet.payload
            )

        def on_sender_report(index: int, ntp: int, rtp_ts: int) -> None:
            layers[index].on_sender_report(ntp, rtp_ts)

        tap = hooks.SimulcastIngestTap(
            t.receiver,
            codecs,
            offer.rids,
            on_packet,
            on_sender_report,
            self.settings.simulcast_publisher_bitrate,
        )
        taps.append(tap)
        for producer, layer in zip(layers, tap.layers, strict=True):
            producer.ingress = layer
        self._taps.append(tap)
        self.layers[t.kind] = layers
        track = top_layer_track(f"{self.id}-{t.kind}", layers)
        track.ingress = tap  # every layer's loss and NACKs
        self.producers[t.kind] = track
        return True

    def _start_ingress(self) -> None:
        if not self.producers:
            raise NoUsableCodec("no track uses VP8, H.264 or Opus")
        hooks.fast_ingress(self.pc, self._taps)

    def _close_media(self) -> None:
        for producer in self.producers.values():
            producer.close()
        for layers in self.layers.values():
            for producer in layers:
                producer.close()


class PublisherPeer(IngestPeer):
    """A WHIP session: each incoming track becomes a Producer."""

    _simulcast: dict[str, SimulcastOffer] = {}
    _answer: str | None = None

    @property
    def answer_sdp(self) -> str:
        return self._answer if self._answer is not None else self.pc.localDescription.sdp

    async def accept(self, offer_sdp: str) -> None:
        self._simulcast = offered_simulcast(offer_sdp)
        await self._negotiate(offer_sdp, self._restrict_codecs)
        taken: dict[str, SimulcastOffer] = {}
        for t in self.pc.getTransceivers():
            if hooks.offered_direction(t) in ("recvonly", "sendrecv"):  # remote sends
                offer = self._simulcast.get(t.mid or "")
                if offer is not None and self._tap_simulcast(t, offer):
                    taken[offer.mid] = offer
                else:
                    self._tap(t)
        self._answer = answer_with_simulcast(self.pc.localDescription.sdp, taken)
        if not self.producers:
            raise NoUsableCodec("no track in the offer uses VP8, H.264 or Opus")
        self._start_ingress()

    def _restrict_codecs(self) -> None:
        for t in self.pc.getTransceivers():
            codecs = _keep(
                hooks.negotiated_codecs(t), lambda c: c.mimeType.lower() in SUPPORTED_MIME
            )
            if codecs:
                hooks.set_negotiated_codecs(t, codecs)
            offer = self._simulcast.get(t.mid or "")
            if offer is not None and t.kind == "video":
                hooks.add_negotiated_extensions(t, offer.extensions)


class SubscriberPeer(Peer):
    """A WHEP session: one Consumer per producer the viewer can receive."""

    def __init__(self, settings: MediaSettings, on_closed: Callable[[Peer], None]) -> None:
        super().__init__(settings, on_closed)
        self.consumers: list[Consumer | SimulcastConsumer] = []

    async def accept(
        self,
        offer_sdp: str,
        producers: dict[str, Producer],
        layers: dict[str, list[Producer]] | None = None,
        choice: LayerChoice = "auto",
    ) -> None:
        """`layers`: the simulcast tracks' layers (lowest first); the viewer gets one,
        as `choice` says. A track without layers is forwarded as it comes."""
        wanted: dict[int, Producer] = {}

        def attach() -> None:
            available = dict(producers)
            for t in self.pc.getTransceivers():
                producer = available.get(t.kind)
                offered = hooks.offered_direction(t)
                if producer is None or offered not in ("sendonly", "sendrecv"):
                    continue  # nothing to send, or the viewer does not receive
                codecs = _keep(
                    hooks.negotiated_codecs(t),
                    lambda c, p=producer: codec_matches(
                        p.codec, c.mimeType, c.clockRate, _params(c)
                    ),  # type: ignore[misc]
                )
                if not codecs:
                    continue
                hooks.set_negotiated_codecs(t, codecs)
                t.direction = offered
                t.sender.replaceTrack(hooks.SilentTrack(t.kind))
                wanted[id(t)] = producer
                del available[t.kind]

        await self._negotiate(offer_sdp, attach)
        for t in self.pc.getTransceivers():
            producer = wanted.get(id(t))
            if producer is None:
                continue
            primary = _primary(hooks.negotiated_codecs(t))
            if primary is None or not codec_matches(
                producer.codec, primary.mimeType, primary.clockRate, _params(primary)
            ):
                continue
            self._add_consumer(t, producer, primary, (layers or {}).get(t.kind, []), choice)
        if not self.consumers:
            raise NoUsableCodec(
                "the offer accepts none of this stream's codecs ("
                + ", ".join(p.codec.name for p in producers.values())
                + ")"
            )

    def _add_consumer(
        self,
        t: RTCRtpTransceiver,
        producer: Producer,
        codec: RTCRtpCodecParameters,
        layers: list[Producer],
        choice: LayerChoice,
    ) -> None:
        mid_id = hooks.negotiated_extension_id(t, MID_URI)
        ext = one_byte_extension_block([(mid_id, t.mid.encode())]) if mid_id and t.mid else b""
        args = (
            hooks.SenderOutput(t.sender, batch=self.settings.udp_gso),
            int(codec.payloadType or 0),
            hooks.sender_ssrc(t.sender),
            ext,
        )
        consumer: Consumer | SimulcastConsumer
        if len(layers) > 1:
            simulcast = SimulcastConsumer(
                f"{self.id}-{t.kind}", layers, *args, choice=choice, track=producer
            )
            # looked up per report: a test stands in for the viewer's estimate there
            hooks.tap_sender_feedback(
                t.sender,
                simulcast.on_nack,
                simulcast.on_keyframe_request,
                lambda bitrate: simulcast.on_bandwidth_estimate(bitrate),
            )
            consumer = simulcast
        else:
            consumer = Consumer(f"{self.id}-{t.kind}", producer, *args)
            hooks.tap_sender_feedback(t.sender, consumer.on_nack, consumer.on_keyframe_request)
        # The publisher leaving closes the consumer; the viewer's peer goes with it.
        consumer.on_close(lambda c: self.close_soon())
        self.consumers.append(consumer)

    def on_connected(self) -> None:
        for consumer in self.consumers:
            consumer.start()

    def _close_media(self) -> None:
        for consumer in self.consumers:
            consumer.close()
