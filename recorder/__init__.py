"""Recorder: evidence-grade segmented recording of encoded media, never transcoded.

It takes relay packets from whoever forwards them (TrackFeed is a packet sink), writes
self-contained segments with PyAV on a writer thread, chains their hashes and signs
the manifest with the node's Ed25519 key.
"""

from . import continuity, manifest
from .evidence_copy import CopyError, CopyGap, CopyPlan, CopyResult, render_copy
from .export import export_recording
from .feed import TrackFeed
from .manifest import ContinuityEntry, Manifest, SegmentEntry
from .recorder import Recorder, TrackInfo
from .recording import Recording, RecordingListener
from .settings import RecorderSettings
from .signing import NodeKey, verify_signature
from .verify import PROBLEMS, VerifyResult, verify_recording

__all__ = [
    "PROBLEMS",
    "ContinuityEntry",
    "CopyError",
    "CopyGap",
    "CopyPlan",
    "CopyResult",
    "Manifest",
    "NodeKey",
    "Recorder",
    "RecorderSettings",
    "Recording",
    "RecordingListener",
    "SegmentEntry",
    "TrackFeed",
    "TrackInfo",
    "VerifyResult",
    "continuity",
    "export_recording",
    "manifest",
    "render_copy",
    "verify_recording",
    "verify_signature",
]
