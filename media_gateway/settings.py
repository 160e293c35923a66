"""The media gateway's own settings section; composed and validated by vdispatch.settings."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class MediaSettings:
    # STUN/TURN URLs; empty: no lookup of outside hosts.
    ice_servers: list[str] = field(default_factory=list)
    # Host addresses to gather and advertise; empty: every non-loopback interface.
    ice_addresses: list[str] = field(default_factory=list)
    # Kernel socket buffers for media sockets; keyframe bursts need room.
    udp_receive_buffer: int = 8 * 1024 * 1024
    udp_send_buffer: int = 4 * 1024 * 1024
    # A peer that has not connected by then is closed.
    connect_timeout: float = 30.0
