"""A WHIP (RFC 9725) client on aiortc: publish tracks to a gateway, stop with DELETE."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from urllib.parse import urljoin

import aiohttp
from aiortc import (
    MediaStreamTrack,
    RTCConfiguration,
    RTCPeerConnection,
    RTCRtpSender,
    RTCRtpTransceiver,
    RTCSessionDescription,
)

from .ice import ice_servers as ice_servers_for

logger = logging.getLogger(__name__)

# Hears a viewer's PLI/FIR on a sender. aiortc has no public hook for it and the agent
# reaches into no aiortc internals: the composition root installs the gateway's hook
# (media_gateway.tap_keyframe_requests) with `use_keyframe_tap`. Without one, a
# self-encoded camera still makes a keyframe every few seconds and at each publication.
KeyframeTap = Callable[[RTCRtpSender, Callable[[], None]], None]
_keyframe_tap: KeyframeTap | None = None


def use_keyframe_tap(tap: KeyframeTap | None) -> None:
    global _keyframe_tap
    _keyframe_tap = tap


def prefer_codec(transceiver: RTCRtpTransceiver, mime: str) -> None:
    """Offer only this codec (and RTX) on the transceiver."""
    caps = RTCRtpSender.getCapabilities(transceiver.kind).codecs
    wanted = [c for c in caps if c.mimeType.lower() == mime.lower()]
    if not wanted:
        raise ValueError(f"aiortc cannot send {mime}")
    rtx = [c for c in caps if c.mimeType.lower() == f"{transceiver.kind}/rtx"]
    transceiver.setCodecPreferences(wanted + rtx)


class WhipError(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"WHIP {status}: {reason}")
        self.status = status
        self.reason = reason

    @property
    def permanent(self) -> bool:
        """Retrying cannot help (bad token, bad stream id, unusable offer)."""
        return self.status in (400, 401, 403, 413, 415)


class WhipPublisher:
    def __init__(
        self,
        url: str,
        token: str,
        tracks: list[MediaStreamTrack],
        ice_servers: list[str] | None = None,
        turn_secret: str | None = None,
    ) -> None:
        self.url = url
        self.token = token
        self.tracks = tracks
        self.pc = RTCPeerConnection(
            # TURN credentials name the stream (the URL's last part) in coturn's log.
            RTCConfiguration(
                iceServers=ice_servers_for(ice_servers or [], turn_secret, url.rsplit("/", 1)[-1])
            )
        )
        self.resource_url: str | None = None
        self._ended = asyncio.Event()
        self.pc.on("connectionstatechange", self._state_changed)

    def _state_changed(self) -> None:
        if self.pc.connectionState in ("failed", "closed"):
            self._ended.set()

    async def start(self, timeout: float = 15.0) -> None:
        """Offer, POST, answer; returns once media flows (ICE and DTLS connected)."""
        for track in self.tracks:
            transceiver = self.pc.addTransceiver(track, direction="sendonly")
            codec = getattr(track, "codec", None)
            if codec:  # an encoded source (passed through) or a configured encoder
                prefer_codec(transceiver, codec)
            request_keyframe = getattr(track, "request_keyframe", None)
            if request_keyframe is not None and _keyframe_tap is not None:
                _keyframe_tap(transceiver.sender, request_keyframe)
        await self.pc.setLocalDescription(await self.pc.createOffer())
        headers = {"Content-Type": "application/sdp", "Authorization": f"Bearer {self.token}"}
        async with (
            aiohttp.ClientSession() as http,
            http.post(self.url, data=self.pc.localDescription.sdp, headers=headers) as resp,
        ):
            body = await resp.text()
            if resp.status != 201:
                raise WhipError(resp.status, body.strip())
            self.resource_url = urljoin(self.url, resp.headers["Location"])
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=body, type="answer"))
        connected = asyncio.Event()

        def check() -> None:
            if self.pc.connectionState == "connected":
                connected.set()

        self.pc.on("connectionstatechange", check)
        check()
        await asyncio.wait_for(connected.wait(), timeout)

    async def wait_ended(self) -> None:
        await self._ended.wait()

    async def stop(self) -> None:
        """DELETE the resource (best effort) and close the peer. Idempotent."""
        if self.resource_url:
            url, self.resource_url = self.resource_url, None
            with contextlib.suppress(aiohttp.ClientError, asyncio.TimeoutError):
                async with (
                    aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=3)) as http,
                    http.delete(url, headers={"Authorization": f"Bearer {self.token}"}),
                ):
                    pass
        await self.pc.close()
        for track in self.tracks:
            track.stop()  # a source's track lets go of its queue
        self._ended.set()
