"""Connects the media gateway's publications to the recorder (neither knows the other),
cuts a stream's recording over when its session binding changes, and tells a new
recording when it takes over from a lost node (looked up by the composition root)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from media_gateway import Publication, RouterListener
from recorder import Recorder, Takeover, TrackFeed, TrackInfo
from signaling import is_outage, outage_reason

logger = logging.getLogger(__name__)


def _unbound(stream_id: str) -> str | None:
    return None


# (stream id, the new recording's id) -> the lost node's recording it continues, if any
FindTakeover = Callable[[str, str], Awaitable[Takeover | None]]


class RecordingBridge(RouterListener):
    def __init__(
        self,
        recorder: Recorder,
        session_for: Callable[[str], str | None] = _unbound,
        find_takeover: FindTakeover | None = None,
    ) -> None:
        self.recorder = recorder
        self.session_for = session_for  # the live session a stream is bound to, if any
        self.find_takeover = find_takeover
        self._publications: dict[str, Publication] = {}
        self._looked_up: dict[str, str] = {}  # stream id -> its recording looked up
        self._lookups: set[asyncio.Task[None]] = set()

    def on_published(self, publication: Publication) -> None:
        producers = publication.producers
        video = producers.get("video")

        def request_keyframe() -> None:
            if video is not None:
                video.request_keyframe()

        tracks = [
            TrackInfo(kind, p.codec.mime, p.codec.clock_rate) for kind, p in producers.items()
        ]
        stream_id = publication.stream_id
        try:
            feeds = self.recorder.start(
                stream_id, tracks, request_keyframe, session=self.session_for(stream_id)
            )
        except OSError:
            logger.exception("cannot start recording %s", stream_id)
            return
        self._publications[stream_id] = publication
        self._connect(publication, feeds)
        recording = self.recorder.active.get(stream_id)
        if (
            self.find_takeover is not None
            and recording is not None
            and self._looked_up.get(stream_id) != recording.id
        ):
            self._looked_up[stream_id] = recording.id
            task = asyncio.ensure_future(self._look_back(stream_id, recording.id))
            self._lookups.add(task)
            task.add_done_callback(self._lookups.discard)

    async def _look_back(self, stream_id: str, recording_id: str) -> None:
        """Was the stream last recorded by a node that was lost? The recording goes on
        meanwhile; a failed lookup (the catalog down) only loses the cross-reference."""
        assert self.find_takeover is not None
        try:
            takeover = await self.find_takeover(stream_id, recording_id)
        except Exception as exc:
            why = outage_reason(exc) if is_outage(exc) else repr(exc)
            logger.warning(
                "recording %s: lost nodes' recordings not looked up: %s", recording_id, why
            )
            return
        if takeover is not None:
            self.recorder.continues(stream_id, recording_id, takeover)

    async def close(self) -> None:
        """Wait for the look-ups under way (each a catalog query in a thread)."""
        if self._lookups:
            await asyncio.gather(*list(self._lookups), return_exceptions=True)

    def rebind(self, stream_id: str, session: str | None, why: str) -> None:
        """The stream's session changed: cut its recording over (recorder.rebind) and feed
        the new recording from the publisher's tracks."""
        try:
            feeds = self.recorder.rebind(stream_id, session, why)
        except OSError:
            logger.exception("cannot cut recording %s over (%s)", stream_id, why)
            return
        publication = self._publications.get(stream_id)
        if feeds and publication is not None:
            self._connect(publication, feeds)

    @staticmethod
    def _connect(publication: Publication, feeds: dict[str, TrackFeed]) -> None:
        for kind, feed in feeds.items():
            producer = publication.producers[kind]
            for sink in producer.sinks:  # feeds of recordings closed since (cut over)
                if isinstance(sink, TrackFeed) and sink.closed:
                    producer.remove_sink(sink)
            producer.add_sink(feed)

    def on_unpublished(self, publication: Publication) -> None:
        if self._publications.get(publication.stream_id) is publication:
            del self._publications[publication.stream_id]
        self.recorder.stopped(publication.stream_id)  # the grace period starts

    def on_gateway_closed(self, publication: Publication) -> None:
        """Nothing: no publisher can come back to a closed gateway, so no grace period.
        The node closes the recorder next, which ends the recording as "node stopped"."""
        self._publications.pop(publication.stream_id, None)
