"""The SFU: WebRTC in, WebRTC out, encoded media forwarded and never transcoded."""

from .aiortc_hooks import (
    default_host_addresses,
    set_host_addresses,
    tap_keyframe_requests,
    tap_rtcp_arrival,
)
from .errors import (
    BadOffer,
    GatewayClosed,
    MediaError,
    NoUsableCodec,
    ResourceNotFound,
    StreamBusy,
    StreamNotFound,
    UpstreamFailed,
    UpstreamTimeout,
)
from .gateway import MediaGateway, StreamInfo
from .ice import ice_servers, turn_rest_credentials
from .producer import ForwardingStats, Producer
from .router import Publication, Router, RouterListener
from .settings import MediaSettings
from .simulcast import LAYER_CHOICES, LayerChoice
from .upstream import Exchange

__all__ = [
    "LAYER_CHOICES",
    "BadOffer",
    "Exchange",
    "ForwardingStats",
    "GatewayClosed",
    "LayerChoice",
    "MediaError",
    "MediaGateway",
    "MediaSettings",
    "NoUsableCodec",
    "Producer",
    "Publication",
    "ResourceNotFound",
    "Router",
    "RouterListener",
    "StreamBusy",
    "StreamInfo",
    "StreamNotFound",
    "UpstreamFailed",
    "UpstreamTimeout",
    "default_host_addresses",
    "ice_servers",
    "set_host_addresses",
    "tap_keyframe_requests",
    "tap_rtcp_arrival",
    "turn_rest_credentials",
]
