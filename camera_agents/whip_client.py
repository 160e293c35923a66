"""A WHIP (RFC 9725) client on aiortc: publish tracks to a gateway, stop with DELETE."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
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


# Hears RTCP arrive on a sender (the gateway's receiver reports, about one a second),
# installed the same way (media_gateway.tap_rtcp_arrival, with `use_rtcp_tap`): the
# liveness watchdog. Without one, a dead gateway is noticed when ICE consent fails.
RtcpTap = Callable[[RTCRtpSender, Callable[[], None]], None]
_rtcp_tap: RtcpTap | None = None
# DELETEs sent to a gateway given up for lost: they run on without stalling fail-over.
_abandoned: set[asyncio.Task[None]] = set()


def use_rtcp_tap(tap: RtcpTap | None) -> None:
    global _rtcp_tap
    _rtcp_tap = tap


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
        *,
        liveness_timeout: float | None = None,
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
        # No RTCP from the gateway for this long (seconds) ends the publication.
        self.liveness_timeout = liveness_timeout
        self.silent = False  # ended by the watchdog: the gateway went quiet
        self._last_rtcp = 0.0
        self._watchdog: asyncio.Task[None] | None = None
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
            if self.liveness_timeout and _rtcp_tap is not None:
                _rtcp_tap(transceiver.sender, self._heard)
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
        if self.liveness_timeout and _rtcp_tap is not None:
            self._last_rtcp = time.monotonic()  # the clock starts once media flows
            self._watchdog = asyncio.ensure_future(self._watch(self.liveness_timeout))

    def _heard(self) -> None:
        self._last_rtcp = time.monotonic()

    async def _watch(self, timeout: float) -> None:
        """End the publication when the gateway has sent no RTCP for `timeout` seconds."""
        while not self._ended.is_set():
            quiet = time.monotonic() - self._last_rtcp
            if quiet >= timeout:
                logger.warning("no RTCP from %s for %.1f s: the gateway is gone", self.url, quiet)
                self.silent = True
                self._ended.set()
                return
            await asyncio.sleep(min(0.25, timeout - quiet))

    async def wait_ended(self) -> None:
        await self._ended.wait()

    async def stop(self, gateway_lost: bool = False) -> None:
        """DELETE the resource (best effort) and close the peer. Idempotent.
        `gateway_lost`: the DELETE goes in the background with a short timeout, so a
        dead gateway does not hold up the fail-over."""
        if self._watchdog is not None:
            self._watchdog.cancel()
        if self.resource_url:
            url, self.resource_url = self.resource_url, None
            if gateway_lost:
                task = asyncio.ensure_future(self._delete(url, 1.0))
                _abandoned.add(task)
                task.add_done_callback(_abandoned.discard)
            else:
                await self._delete(url, 3.0)
        await self.pc.close()
        for track in self.tracks:
            track.stop()  # a source's track lets go of its queue
        self._ended.set()

    async def _delete(self, url: str, timeout: float) -> None:
        with contextlib.suppress(aiohttp.ClientError, asyncio.TimeoutError):
            async with (
                aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as http,
                http.delete(url, headers={"Authorization": f"Bearer {self.token}"}),
            ):
                pass
