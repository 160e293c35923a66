"""Viewer workers, the front's side: a node's extra media processes (media.workers > 1).

The main process stays the node (HTTP, auth, publishers, recording) and serves viewers
too; each worker process runs only a media gateway on 127.0.0.1, reached with the
node's per-boot secret. A WHEP viewer is authorized here exactly as before, then this
picks the process with the fewest viewers (a stream's viewers spread over all of them),
hands it the offer and returns its answer: media flows between the viewer and that
process, only signaling passes the front. A worker relays each stream from the main
process (one upstream per stream per worker, like a cascade node from its holder).

Its resource ids are `w<index>-<id>`, so DELETE finds the worker with no table to keep.
The workers' viewer counts are polled every second into the gateway's stream list.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from dataclasses import dataclass, field

import aiohttp
from aiohttp import web

from media_gateway import MediaGateway, ResourceNotFound

from .errors import Refusal
from .keys import GATEWAY_KEY, TOKENS_KEY
from .policy import TokenRole
from .relay import RELAY_TOKEN_TTL

logger = logging.getLogger(__name__)

SECRET_HEADER = "X-Vdispatch-Worker-Secret"
# The viewer token a worker shows the main process when it opens its upstream.
UPSTREAM_TOKEN_HEADER = "X-Vdispatch-Upstream-Token"
RESOURCE_HEADER = "X-Vdispatch-Resource"
_RESOURCE = re.compile(r"w(\d{1,2})-([0-9a-f]{1,32})")
POLL_EVERY = 1.0


@dataclass
class _Worker:
    index: int
    url: str | None = None  # None: not running (starting, or restarting)
    viewers: dict[str, int] = field(default_factory=dict)
    upstreams: set[str] = field(default_factory=set)

    @property
    def load(self) -> int:
        return sum(self.viewers.values())


class ViewerWorkers:
    """The node's worker processes as the front sees them; the composition root starts
    and supervises the processes and tells `up`/`down`."""

    def __init__(self, secret: str, gateway: MediaGateway, timeout: float) -> None:
        self._secret = secret
        self._gateway = gateway
        self._timeout = timeout  # a worker's answer: upstream opening plus its own ICE
        self._workers: dict[int, _Worker] = {}
        self._http: aiohttp.ClientSession | None = None
        self._poll: asyncio.Task[None] | None = None

    def up(self, index: int, url: str) -> None:
        self._workers[index] = _Worker(index, url)
        logger.info("viewer worker %d up at %s", index, url)

    def down(self, index: int) -> None:
        """Its viewers have lost their media (their players reconnect)."""
        self._workers[index] = _Worker(index)
        self._publish_counts()

    def running(self) -> list[int]:
        return sorted(i for i, w in self._workers.items() if w.url is not None)

    def viewers_by_worker(self) -> dict[int, int]:
        """Viewers per process, 0 being the main one."""
        counts = {i: w.load for i, w in self._workers.items() if w.url is not None}
        counts[0] = self._gateway.own_viewers()
        return dict(sorted(counts.items()))

    def start(self) -> None:
        self._http = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=self._timeout, sock_connect=2),
            headers={SECRET_HEADER: self._secret},
        )
        self._poll = asyncio.ensure_future(self._poll_counts())

    async def close(self) -> None:
        if self._poll is not None:
            self._poll.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poll
        if self._http is not None:
            await self._http.close()
        self._gateway.set_worker_viewers({}, {})

    def _pick(self, stream_id: str) -> _Worker | None:
        """Fewest viewers in all, then fewest of this stream; None: the main process
        (it also ingests and records, so it loses ties)."""
        best: _Worker | None = None
        best_key = (self._gateway.own_viewers(), self._main_viewers(stream_id), 1)
        for worker in self._workers.values():
            if worker.url is None:
                continue
            key = (worker.load, worker.viewers.get(stream_id, 0), 0)
            if key < best_key:
                best, best_key = worker, key
        return best

    def _main_viewers(self, stream_id: str) -> int:
        for info in self._gateway.streams():
            if info.stream_id == stream_id:
                workers = sum(w.viewers.get(stream_id, 0) for w in self._workers.values())
                return max(0, info.viewers - workers)
        return 0

    async def subscribe(self, request: web.Request, stream_id: str, offer: str) -> tuple[str, str]:
        """(resource id, answer) from a worker; Refusal with the worker's status when it
        refuses; LookupError when the main process should serve this viewer (it has the
        fewest, or the chosen worker is unreachable: logged, the viewer is still served)."""
        worker = self._pick(stream_id)
        if worker is None or worker.url is None or self._http is None:
            raise LookupError(stream_id)
        token = request.app[TOKENS_KEY].mint([stream_id], TokenRole.VIEWER, RELAY_TOKEN_TTL)
        url = f"{worker.url}/viewers/{stream_id}"
        headers = {"Content-Type": "application/sdp", UPSTREAM_TOKEN_HEADER: token}
        try:
            async with self._http.post(url, data=offer, headers=headers) as resp:
                body = await resp.text()
                resource = resp.headers.get(RESOURCE_HEADER, "")
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            logger.warning("viewer worker %d unreachable (%s): served here", worker.index, exc)
            raise LookupError(stream_id) from exc
        if resp.status != 201:
            raise Refusal(resp.status, body.strip()[:300] or f"worker {worker.index} refused")
        worker.viewers[stream_id] = worker.viewers.get(stream_id, 0) + 1
        worker.upstreams.add(stream_id)
        return f"w{worker.index}-{resource}", body

    async def unsubscribe(self, stream_id: str, resource_id: str) -> bool:
        """End a worker's viewer; False when `resource_id` is not a worker's."""
        match = _RESOURCE.fullmatch(resource_id)
        if match is None:
            return False
        worker = self._workers.get(int(match[1]))
        if worker is None or worker.url is None or self._http is None:
            raise ResourceNotFound(f"no viewing resource {resource_id!r} on {stream_id!r}")
        url = f"{worker.url}/viewers/{stream_id}/{match[2]}"
        try:
            async with self._http.delete(url) as resp:
                status = resp.status
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise ResourceNotFound(f"viewer worker {worker.index} unreachable: {exc}") from exc
        if status != 200:
            raise ResourceNotFound(f"no viewing resource {resource_id!r} on {stream_id!r}")
        count = worker.viewers.get(stream_id, 0)
        if count > 0:
            worker.viewers[stream_id] = count - 1
        return True

    async def _poll_counts(self) -> None:
        while True:
            await asyncio.sleep(POLL_EVERY)
            for worker in list(self._workers.values()):
                await self._poll_one(worker)
            self._publish_counts()

    async def _poll_one(self, worker: _Worker) -> None:
        if worker.url is None or self._http is None:
            return
        try:
            async with self._http.get(f"{worker.url}/stats") as resp:
                stats = await resp.json() if resp.status == 200 else None
        except (aiohttp.ClientError, OSError, TimeoutError, ValueError):
            return  # restarting, or busy: its last counts stand
        if stats is None or self._workers.get(worker.index) is not worker:
            return
        streams = stats.get("streams", {})
        worker.viewers = {sid: int(s["viewers"]) for sid, s in streams.items()}
        worker.upstreams = set(streams)

    def _publish_counts(self) -> None:
        viewers: dict[str, int] = {}
        upstreams: dict[str, int] = {}
        for worker in self._workers.values():
            for sid, count in worker.viewers.items():
                viewers[sid] = viewers.get(sid, 0) + count
            for sid in worker.upstreams:
                upstreams[sid] = upstreams.get(sid, 0) + 1
        self._gateway.set_worker_viewers(viewers, upstreams)


# Set by the composition root when the node runs worker processes.
WORKERS_KEY = web.AppKey("viewer_workers", ViewerWorkers)


async def serve_viewer(request: web.Request, stream_id: str, offer: str) -> tuple[str, str] | None:
    """(resource id, answer) when a worker serves this viewer; None: the main process
    does (no workers, the stream not live here, or it has the fewest viewers)."""
    workers = request.app.get(WORKERS_KEY)
    if workers is None or request.app[GATEWAY_KEY].publication(stream_id) is None:
        return None
    try:
        return await workers.subscribe(request, stream_id, offer)
    except LookupError:
        return None


async def end_viewer(app: web.Application, stream_id: str, resource_id: str) -> None:
    """End a viewing resource on whichever process serves it."""
    workers = app.get(WORKERS_KEY)
    if workers is not None and await workers.unsubscribe(stream_id, resource_id):
        return
    await app[GATEWAY_KEY].unsubscribe(stream_id, resource_id)
