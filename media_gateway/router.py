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
from collections.abc import Callable
from dataclasses import dataclass, field

from .errors import GatewayClosed, ResourceNotFound, StreamBusy, StreamNotFound
from .peer import Peer, PublisherPeer, SubscriberPeer
from .producer import Producer
from .settings import MediaSettings

logger = logging.getLogger(__name__)


@dataclass
class Publication:
    stream_id: str
    peer: PublisherPeer
    since: float = field(default_factory=time.time)

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

    async def publish(self, stream_id: str, offer_sdp: str) -> Publication:
        if stream_id in self.publications:
            raise StreamBusy(f"stream {stream_id!r} is already published")
        peer = PublisherPeer(self.settings, self._peer_closed)
        self._negotiating.add(peer)
        try:
            await peer.accept(offer_sdp)
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
        pub = Publication(stream_id, peer)
        self.publications[stream_id] = pub
        self._listener.on_published(pub)
        return pub

    async def subscribe(self, stream_id: str, offer_sdp: str) -> SubscriberPeer:
        pub = self.publications.get(stream_id)
        if pub is None:
            raise StreamNotFound(f"stream {stream_id!r} is not live")
        peer = SubscriberPeer(self.settings, self._peer_closed)
        self._negotiating.add(peer)
        try:
            await peer.accept(offer_sdp, pub.producers)
        except BaseException:
            self._negotiating.discard(peer)
            await peer.close()
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
        if isinstance(peer, PublisherPeer):
            for stream_id, pub in list(self.publications.items()):
                if pub.peer is peer:
                    del self.publications[stream_id]
                    self._listener.on_unpublished(pub)
        else:
            self.subscribers.pop(peer.id, None)
        if self._on_empty and not (self.publications or self.subscribers or self._negotiating):
            self._on_empty(self)

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
