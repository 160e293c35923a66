"""Recorder: evidence-grade segmented recording of encoded media, never transcoded.

It takes relay packets from whoever forwards them (TrackFeed is a packet sink), writes
self-contained segments with PyAV on a writer thread, chains their hashes and signs
the manifest with the node's Ed25519 key.
"""

from . import chain, continuity, manifest
from .evidence_copy import CopyError, CopyGap, CopyPlan, CopyResult, render_copy
from .export import export_recording
from .feed import TrackFeed
from .manifest import ContinuityEntry, Manifest, SegmentEntry
from .recorder import Recorder, TrackInfo
from .recording import Recording, RecordingListener
from .segment import SegmentFile, TrackSpec, container_for
from .settings import RecorderSettings
from .signing import NodeKey, verify_signature
from .stats import RecorderStats
from .verify import PROBLEMS, VerifyResult, verify_recording
from .writer import iso

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
    "RecorderStats",
    "Recording",
    "RecordingListener",
    "SegmentEntry",
    "SegmentFile",
    "TrackFeed",
    "TrackInfo",
    "TrackSpec",
    "VerifyResult",
    "chain",
    "container_for",
    "continuity",
    "export_recording",
    "iso",
    "manifest",
    "render_copy",
    "verify_recording",
    "verify_signature",
]
