"""Router: one group of streams and their viewers (a stream now; a hearing session later).

A Router holds publications (a publisher peer and its Producers) and subscriber peers
(their Consumers). It can hold several publications at once, so a two-way session is
a Router where each side publishes and each side consumes the other.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from .errors import GatewayClosed, ResourceNotFound, StreamBusy, StreamNotFound
from .peer import IngestPeer, Peer, PublisherPeer, SubscriberPeer
from .producer import Producer
from .settings import MediaSettings
from .simulcast import LayerChoice
from .upstream import Exchange, UpstreamPeer

logger = logging.getLogger(__name__)


@dataclass
class Publication:
    """A stream's source here: a local publisher (origin None) or an upstream relaying
    it from the node `origin` that holds it."""

    stream_id: str
    peer: IngestPeer
    since: float = field(default_factory=time.time)
    origin: str | None = None

    @property
    def resource_id(self) -> str:
        return self.peer.id

    @property
    def producers(self) -> dict[str, Producer]:
        return self.peer.producers


class RouterListener:
    """Hooks a Router reports to (the gateway; through it, presence and the recorder);
    all no-ops by default."""

    def on_published(self, publication: Publication) -> None: ...

    def on_unpublished(self, publication: Publication) -> None:
        """The publisher left (DELETE, failure, timeout); it may come back."""

    def on_gateway_closed(self, publication: Publication) -> None:
        """The stream ended because the gateway closed (node shutdown), not because its
        publisher left: nothing will come back to this gateway. Only the gateway calls
        this, after its Routers closed; a Router never calls its closer back."""


class Router:
    def __init__(self, router_id: str, settings: MediaSettings, listener: RouterListener) -> None:
        self.id = router_id
        self.settings = settings
        self.closed = False
        self._listener = listener
        self.publications: dict[str, Publication] = {}
        self.subscribers: dict[str, tuple[str, SubscriberPeer]] = {}
        self._sr_task = asyncio.ensure_future(self._refresh_sender_reports())
        self._on_empty: Callable[[Router], None] | None = None
        # peers still negotiating belong to no list yet; closing the router closes them too
        self._negotiating: set[Peer] = set()
        # relayed streams without a local viewer: their upstream closes when this fires
        self._lingering: dict[str, asyncio.TimerHandle] = {}

    async def publish(self, stream_id: str, offer_sdp: str) -> Publication:
        relayed = self.publications.get(stream_id)
        if relayed is None or relayed.origin is None:
            self._check_free(stream_id)
        peer = PublisherPeer(self.settings, self._peer_closed)
        if relayed is not None and relayed.origin is not None:
            # The station publishes here now (its node failed over to this one): the
            # relay from the old holder gives way; its viewers are closed and come back.
            logger.info(
                "stream %s published here: the upstream from %s closes", stream_id, relayed.origin
            )
            self._negotiating.add(peer)  # the router must not look empty meanwhile
            await relayed.peer.close()
        return await self._admit(stream_id, peer, peer.accept(offer_sdp), None)

    async def relay(self, stream_id: str, exchange: Exchange, origin: str) -> Publication:
        """The stream as relayed from node `origin`; it lingers until a viewer comes."""
        self._check_free(stream_id)
        peer = UpstreamPeer(self.settings, self._peer_closed, origin)
        pub = await self._admit(stream_id, peer, peer.connect(exchange), origin)
        self._linger(stream_id)
        return pub

    def _check_free(self, stream_id: str) -> None:
        if stream_id in self.publications:
            raise StreamBusy(f"stream {stream_id!r} is already published")

    async def _admit(
        self,
        stream_id: str,
        peer: IngestPeer,
        negotiation: Coroutine[Any, Any, None],
        origin: str | None,
    ) -> Publication:
        self._negotiating.add(peer)
        try:
            await negotiation
        except BaseException:
            self._negotiating.discard(peer)
            await peer.close()
            raise
        self._negotiating.discard(peer)
        if self.closed:  # the router closed the peer while it negotiated
            raise GatewayClosed(f"stream {stream_id!r}: the gateway is closing")
        # A second publisher may have won the race while we negotiated.
        if stream_id in self.publications:
            await peer.close()
            raise StreamBusy(f"stream {stream_id!r} is already published")
        pub = Publication(stream_id, peer, origin=origin)
        self.publications[stream_id] = pub
        self._listener.on_published(pub)
        return pub

    async def subscribe(
        self, stream_id: str, offer_sdp: str, layer: LayerChoice = "auto"
    ) -> SubscriberPeer:
        pub = self.publications.get(stream_id)
        if pub is None:
            raise StreamNotFound(f"stream {stream_id!r} is not live")
        peer = SubscriberPeer(self.settings, self._peer_closed)
        self._negotiating.add(peer)
        handle = self._lingering.pop(stream_id, None)  # a viewer is coming: keep the upstream
        if handle is not None:
            handle.cancel()
        try:
            await peer.accept(offer_sdp, pub.producers, pub.peer.layers, layer)
        except BaseException:
            self._negotiating.discard(peer)
            await peer.close()
            self._linger(stream_id)
            raise
        self._negotiating.discard(peer)
        if self.closed:  # the router closed the peer while it negotiated
            raise GatewayClosed(f"stream {stream_id!r}: the gateway is closing")
        if pub.peer.closed:
            await peer.close()
            raise StreamNotFound(f"stream {stream_id!r} ended")
        self.subscribers[peer.id] = (stream_id, peer)
        return peer

    async def close_publication(self, stream_id: str, resource_id: str) -> None:
        pub = self.publications.get(stream_id)
        if pub is None or pub.resource_id != resource_id:
            raise ResourceNotFound(f"no publishing resource {resource_id!r} on {stream_id!r}")
        await pub.peer.close()

    async def close_subscription(self, stream_id: str, resource_id: str) -> None:
        entry = self.subscribers.get(resource_id)
        if entry is None or entry[0] != stream_id:
            raise ResourceNotFound(f"no viewing resource {resource_id!r} on {stream_id!r}")
        await entry[1].close()

    def _peer_closed(self, peer: Peer) -> None:
        """A peer ended on its own. (Peers closed by `close()` do not call this.)"""
        if isinstance(peer, IngestPeer):
            for stream_id, pub in list(self.publications.items()):
                if pub.peer is peer:
                    del self.publications[stream_id]
                    handle = self._lingering.pop(stream_id, None)
                    if handle is not None:
                        handle.cancel()
                    self._listener.on_unpublished(pub)
        else:
            entry = self.subscribers.pop(peer.id, None)
            if entry is not None:
                self._linger(entry[0])
        if self._on_empty and not (self.publications or self.subscribers or self._negotiating):
            self._on_empty(self)

    def _linger(self, stream_id: str) -> None:
        """A relayed stream with no local viewer (none left, or none yet): close its
        upstream `relay_linger` seconds from now unless a viewer comes."""
        pub = self.publications.get(stream_id)
        if pub is None or pub.origin is None or stream_id in self._lingering or self.closed:
            return
        if any(s == stream_id for s, _ in self.subscribers.values()):
            return
        self._lingering[stream_id] = asyncio.get_running_loop().call_later(
            self.settings.relay_linger, self._linger_over, stream_id, pub
        )

    def _linger_over(self, stream_id: str, pub: Publication) -> None:
        self._lingering.pop(stream_id, None)
        if self.publications.get(stream_id) is pub:
            logger.info("stream %s: no viewer left, upstream from %s closes", stream_id, pub.origin)
            pub.peer.close_soon()

    def on_empty(self, callback: Callable[[Router], None]) -> None:
        self._on_empty = callback

    async def _refresh_sender_reports(self) -> None:
        """Keep every consumer's RTCP SR mapping fresh; aiortc's RTCP loop sends it."""
        try:
            while True:
                await asyncio.sleep(0.5)
                for _, peer in list(self.subscribers.values()):
                    for consumer in peer.consumers:
                        consumer.refresh_sender_report()
        except asyncio.CancelledError:
            pass
        except Exception:
            logger.exception("sender report loop of router %s", self.id)

    async def close(self) -> None:
        """Idempotent cascade: every peer (negotiating, subscribers, then publishers, whose
        producers close their sinks) gets `router_closed()` and cleans up without calling
        back. Tells no listener: whoever closes the router knows why, and says so."""
        if self.closed:
            return
        self.closed = True
        self._sr_task.cancel()
        for handle in self._lingering.values():
            handle.cancel()
        self._lingering.clear()
        peers: list[Peer] = [
            *self._negotiating,
            *(peer for _, peer in self.subscribers.values()),
            *(pub.peer for pub in self.publications.values()),
        ]
        self._negotiating.clear()
        self.subscribers.clear()
        self.publications.clear()
        for peer in peers:
            await peer.router_closed()
        with contextlib.suppress(asyncio.CancelledError):
            await self._sr_task
