"""Connects the media gateway's publications to the recorder (neither knows the other),
and cuts a stream's recording over when its session binding changes."""

from __future__ import annotations

import logging
from collections.abc import Callable

from media_gateway import Publication, RouterListener
from recorder import Recorder, TrackFeed, TrackInfo

logger = logging.getLogger(__name__)


def _unbound(stream_id: str) -> str | None:
    return None


class RecordingBridge(RouterListener):
    def __init__(
        self, recorder: Recorder, session_for: Callable[[str], str | None] = _unbound
    ) -> None:
        self.recorder = recorder
        self.session_for = session_for  # the live session a stream is bound to, if any
        self._publications: dict[str, Publication] = {}

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
