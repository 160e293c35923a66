"""Camera agents: capture at the county station and publish to the city over WHIP."""

from .agent import Agent, AgentConfig
from .file_source import FileSource
from .loop_source import LoopSource
from .rtsp_source import RtspSource, redact
from .source import CameraSource, Sink, SourceStatus
from .spool import Spool, SpoolStatus
from .station import Station
from .station_config import (
    DEFAULT_KEY_DIR,
    STATION_KEY_FILE,
    CameraConfig,
    StationConfig,
    StationConfigError,
    load_station_config,
)
from .status_page import bound_port, serve_status
from .v4l2_source import AlsaSource, V4l2Source
from .whip_client import WhipError, WhipPublisher, use_keyframe_tap, use_rtcp_tap

__all__ = [
    "DEFAULT_KEY_DIR",
    "STATION_KEY_FILE",
    "Agent",
    "AgentConfig",
    "AlsaSource",
    "CameraConfig",
    "CameraSource",
    "FileSource",
    "LoopSource",
    "RtspSource",
    "Sink",
    "SourceStatus",
    "Spool",
    "SpoolStatus",
    "Station",
    "StationConfig",
    "StationConfigError",
    "V4l2Source",
    "WhipError",
    "WhipPublisher",
    "bound_port",
    "load_station_config",
    "redact",
    "serve_status",
    "use_keyframe_tap",
    "use_rtcp_tap",
]
