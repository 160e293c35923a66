"""Connects the media gateway's publications to the recorder (neither knows the other)."""

from __future__ import annotations

import logging

from media_gateway import Publication, RouterListener
from recorder import Recorder, TrackInfo

logger = logging.getLogger(__name__)


class RecordingBridge(RouterListener):
    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder

    def on_published(self, publication: Publication) -> None:
        producers = publication.producers
        video = producers.get("video")

        def request_keyframe() -> None:
            if video is not None:
                video.request_keyframe()

        tracks = [
            TrackInfo(kind, p.codec.mime, p.codec.clock_rate) for kind, p in producers.items()
        ]
        try:
            feeds = self.recorder.start(publication.stream_id, tracks, request_keyframe)
        except OSError:
            logger.exception("cannot start recording %s", publication.stream_id)
            return
        for kind, feed in feeds.items():
            producers[kind].add_sink(feed)

    def on_unpublished(self, publication: Publication) -> None:
        self.recorder.stopped(publication.stream_id)  # the grace period starts

    def on_gateway_closed(self, publication: Publication) -> None:
        """Nothing: no publisher can come back to a closed gateway, so no grace period.
        The node closes the recorder next, which ends the recording as "node stopped"."""
