"""MediaGateway: the node's SFU façade used by signaling: publish, subscribe, list."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from . import aiortc_hooks
from .errors import GatewayClosed, ResourceNotFound, StreamNotFound
from .router import Publication, Router, RouterListener
from .settings import MediaSettings
from .simulcast import LayerChoice
from .upstream import Exchange

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class StreamInfo:
    """What the API and console show of a live stream."""

    stream_id: str
    resource_id: str
    since: float
    video_codec: str | None
    audio_codec: str | None
    width: int | None
    height: int | None
    fps: float
    bitrate: float
    packets: int
    viewers: int
    origin: str | None = None  # the node it is relayed from; None: published here


class MediaGateway(RouterListener):
    def __init__(self, settings: MediaSettings, listeners: list[RouterListener] | None = None):
        aiortc_hooks.ensure_compatible()
        aiortc_hooks.set_host_addresses(settings.ice_addresses or None)
        self.settings = settings
        self._listeners = list(listeners or [])
        self._routers: dict[str, Router] = {}
        self._retiring: set[asyncio.Task[None]] = set()  # empty routers being closed
        self._relaying: dict[str, asyncio.Future[Publication]] = {}  # upstreams opening
        self.closed = False

    def add_listener(self, listener: RouterListener) -> None:
        self._listeners.append(listener)

    def router_for(self, stream_id: str) -> Router:
        if self.closed:
            raise GatewayClosed(f"stream {stream_id!r}: the gateway is closing")
        router = self._routers.get(stream_id)
        if router is None or router.closed:
            router = Router(stream_id, self.settings, self)
            router.on_empty(self._router_empty)
            self._routers[stream_id] = router
        return router

    def _router_empty(self, router: Router) -> None:
        """A Router's last peer left on its own: forget it, and close it (it has nothing
        left but its sender-report task) from a task of ours, not from inside its call."""
        if self._routers.get(router.id) is router:
            del self._routers[router.id]
            task = asyncio.ensure_future(router.close())
            self._retiring.add(task)
            task.add_done_callback(self._retiring.discard)

    async def publish(self, stream_id: str, offer_sdp: str) -> Publication:
        return await self.router_for(stream_id).publish(stream_id, offer_sdp)

    async def relay(self, stream_id: str, exchange: Exchange, origin: str) -> Publication:
        """The stream relayed from node `origin` (cascade): one upstream per stream, so
        concurrent callers await the same one; a live publication is returned as is.
        Raises UpstreamFailed/UpstreamTimeout (502/504) when the holder cannot serve."""
        pub = self.publication(stream_id)
        if pub is not None:
            return pub
        opening = self._relaying.get(stream_id)
        if opening is None:
            opening = asyncio.ensure_future(
                self.router_for(stream_id).relay(stream_id, exchange, origin)
            )
            self._relaying[stream_id] = opening

            def opened(future: asyncio.Future[Publication]) -> None:
                if self._relaying.get(stream_id) is future:
                    del self._relaying[stream_id]
                if not future.cancelled():
                    future.exception()  # retrieved here: every waiter may have gone

            opening.add_done_callback(opened)
        # shielded: one viewer giving up does not cancel the others' upstream
        return await asyncio.shield(opening)

    async def end_relay(self, stream_id: str) -> None:
        """Close the upstream of a relayed stream (its holder is gone or changed); its
        local viewers are closed as when a publisher leaves. No-op otherwise."""
        pub = self.publication(stream_id)
        if pub is not None and pub.origin is not None:
            logger.info("stream %s: the relay from %s ends", stream_id, pub.origin)
            await pub.peer.close()

    async def subscribe(self, stream_id: str, offer_sdp: str, layer: LayerChoice = "auto") -> str:
        """`layer`: which simulcast layer the viewer takes (a track sent in one: ignored)."""
        router = self._routers.get(stream_id)
        if router is None or stream_id not in router.publications:
            raise StreamNotFound(f"stream {stream_id!r} is not live")
        peer = await router.subscribe(stream_id, offer_sdp, layer)
        return peer.id

    def answer_for(self, stream_id: str, resource_id: str) -> str:
        router = self._routers[stream_id]
        pub = router.publications.get(stream_id)
        if pub is not None and pub.resource_id == resource_id:
            return pub.peer.answer_sdp
        return router.subscribers[resource_id][1].answer_sdp

    async def unpublish(self, stream_id: str, resource_id: str) -> None:
        router = self._routers.get(stream_id)
        if router is None:
            raise ResourceNotFound(f"no publishing resource {resource_id!r} on {stream_id!r}")
        await router.close_publication(stream_id, resource_id)

    async def unsubscribe(self, stream_id: str, resource_id: str) -> None:
        router = self._routers.get(stream_id)
        if router is None:
            raise ResourceNotFound(f"no viewing resource {resource_id!r} on {stream_id!r}")
        await router.close_subscription(stream_id, resource_id)

    def publication(self, stream_id: str) -> Publication | None:
        router = self._routers.get(stream_id)
        return router.publications.get(stream_id) if router else None

    def streams(self) -> list[StreamInfo]:
        out = []
        for router in self._routers.values():
            for pub in router.publications.values():
                v = pub.producers.get("video")
                a = pub.producers.get("audio")
                viewers = sum(1 for s, _ in router.subscribers.values() if s == pub.stream_id)
                out.append(
                    StreamInfo(
                        stream_id=pub.stream_id,
                        resource_id=pub.resource_id,
                        since=pub.since,
                        video_codec=v.codec.name if v else None,
                        audio_codec=a.codec.name if a else None,
                        width=v.width if v else None,
                        height=v.height if v else None,
                        fps=round(v.fps, 1) if v else 0.0,
                        bitrate=(v.bitrate if v else 0.0) + (a.bitrate if a else 0.0),
                        packets=(v.packets if v else 0) + (a.packets if a else 0),
                        viewers=viewers,
                        origin=pub.origin,
                    )
                )
        return sorted(out, key=lambda s: s.stream_id)

    # RouterListener: pass publication events on to whoever listens to the gateway. A
    # relayed stream is not told: its holder records it and reports its presence.
    def on_published(self, publication: Publication) -> None:
        if publication.origin is not None:
            return
        for listener in self._listeners:
            listener.on_published(publication)

    def on_unpublished(self, publication: Publication) -> None:
        if publication.origin is not None:
            return
        for listener in self._listeners:
            listener.on_unpublished(publication)

    async def close(self) -> None:
        """Idempotent. Each Router closes its peers (which do not call back); then the
        listeners hear `on_gateway_closed`, not `on_unpublished`: no publisher left, so
        nobody waits for one to come back."""
        if self.closed:
            return
        self.closed = True
        routers, self._routers = list(self._routers.values()), {}
        for router in routers:
            publications = [p for p in router.publications.values() if p.origin is None]
            await router.close()
            for publication in publications:
                for listener in self._listeners:
                    try:
                        listener.on_gateway_closed(publication)
                    except Exception:
                        logger.exception("listener of stream %s", publication.stream_id)
        while self._retiring:
            await asyncio.gather(*list(self._retiring), return_exceptions=True)
