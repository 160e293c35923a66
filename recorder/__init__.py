"""Recorder: evidence-grade segmented recording of encoded media, never transcoded.

It takes relay packets from whoever forwards them (TrackFeed is a packet sink), writes
self-contained segments with PyAV on a writer thread, chains their hashes and signs
the manifest with the node's Ed25519 key.
"""

from .feed import TrackFeed
from .manifest import ContinuityEntry, Manifest, SegmentEntry
from .recorder import Recorder, TrackInfo
from .recording import Recording, RecordingListener
from .settings import CatalogSettings, RecorderSettings

# The catalog (recorder.catalog, .archive, .retention) is imported from its modules:
# it needs SQLAlchemy, which a camera agent reusing the segment format does not.
__all__ = [
    "CatalogSettings",
    "ContinuityEntry",
    "Manifest",
    "Recorder",
    "RecorderSettings",
    "Recording",
    "RecordingListener",
    "SegmentEntry",
    "TrackFeed",
    "TrackInfo",
]
