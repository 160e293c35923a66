"""UpstreamPeer: this gateway as a WHEP viewer of a stream another node holds (cascade).

It offers (recvonly audio and video, only the codecs we forward), hands the offer to the
caller's `exchange` (signaling does the node-to-node WHEP request), and taps the tracks
it receives exactly like a publisher's: Producers fed without decoding, local viewers'
PLIs sent upstream. Each step is bounded, so a dead or refusing holder is an error, not
a hang.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from aiortc import RTCRtpReceiver, RTCSessionDescription

from . import aiortc_hooks as hooks
from .codecs import RTX_MIME, SUPPORTED_MIME
from .errors import MediaError, UpstreamFailed, UpstreamTimeout
from .peer import IngestPeer, Peer
from .settings import MediaSettings

logger = logging.getLogger(__name__)

# offer SDP -> answer SDP; raises MediaError (UpstreamFailed) when the holder refuses.
Exchange = Callable[[str], Awaitable[str]]


class UpstreamPeer(IngestPeer):
    def __init__(
        self, settings: MediaSettings, on_closed: Callable[[Peer], None], origin: str
    ) -> None:
        super().__init__(settings, on_closed)
        self.origin = origin
        self._settled = asyncio.Event()  # connected, or closed before it could

    async def connect(self, exchange: Exchange) -> None:
        """Offer, exchange, tap, then wait for the media to connect (each bounded by
        `relay_timeout`); raises UpstreamFailed/UpstreamTimeout."""
        hooks.use_gateway_certificate(self.pc)  # before the transceivers' DTLS exist
        for kind in ("audio", "video"):
            transceiver = self.pc.addTransceiver(kind, direction="recvonly")
            capabilities = RTCRtpReceiver.getCapabilities(kind)
            assert capabilities is not None
            transceiver.setCodecPreferences(
                [
                    c
                    for c in capabilities.codecs
                    if c.mimeType.lower() in SUPPORTED_MIME or c.mimeType.lower() == RTX_MIME
                ]
            )
        await self.pc.setLocalDescription(await self.pc.createOffer())
        timeout = self.settings.relay_timeout
        try:
            answer = await asyncio.wait_for(exchange(self.pc.localDescription.sdp), timeout)
        except TimeoutError as exc:
            raise UpstreamTimeout(
                f"node {self.origin} did not answer the relay request within {timeout:g} s"
            ) from exc
        except MediaError:
            raise
        except Exception as exc:
            raise UpstreamFailed(f"relay request to node {self.origin} failed: {exc}") from exc
        try:
            await self.pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
        except Exception as exc:  # aiortc raises many types for bad SDP
            raise UpstreamFailed(
                f"node {self.origin} gave an unusable answer: {exc or type(exc).__name__}"
            ) from exc
        for t in self.pc.getTransceivers():
            if t.currentDirection in ("recvonly", "sendrecv"):  # the holder sends it
                self._tap(t)
        if not self.producers:
            raise UpstreamFailed(f"node {self.origin} sends no VP8, H.264 or Opus track")
        self._start_ingress()
        hooks.tune_socket_buffers(
            self.pc, self.settings.udp_receive_buffer, self.settings.udp_send_buffer
        )
        hooks.allow_full_mtu(self.pc)
        try:
            await asyncio.wait_for(self._settled.wait(), timeout)
        except TimeoutError as exc:
            raise UpstreamTimeout(
                f"media from node {self.origin} did not connect within {timeout:g} s"
            ) from exc
        if self.closed or self.pc.connectionState != "connected":
            raise UpstreamFailed(f"media from node {self.origin} failed to connect")

    def on_connected(self) -> None:
        self._settled.set()

    def _close_media(self) -> None:
        self._settled.set()
        super()._close_media()
