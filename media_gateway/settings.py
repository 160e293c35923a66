"""The media gateway's own settings section; composed and validated by vdispatch.settings."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, SecretStr


class MediaSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    # STUN/TURN URLs; empty: no lookup of outside hosts.
    ice_servers: list[str] = Field(default_factory=list)
    # coturn's static-auth-secret (use-auth-secret): TURN URLs above get per-peer TURN REST
    # credentials (media_gateway/ice.py). Unset: TURN URLs are used without credentials.
    turn_secret: SecretStr | None = None
    # Seconds those credentials stay valid (coturn checks them at every allocation refresh).
    turn_credential_lifetime: int = Field(default=24 * 3600, ge=60)
    # Host addresses to gather and advertise; empty: every non-loopback interface.
    ice_addresses: list[str] = Field(default_factory=list)
    # Kernel socket buffer for received media (bytes); keyframe bursts need room.
    udp_receive_buffer: int = Field(default=8 * 1024 * 1024, ge=65536)
    # Kernel socket buffer for sent media (bytes).
    udp_send_buffer: int = Field(default=4 * 1024 * 1024, ge=65536)
    # A peer that has not connected within this many seconds is closed.
    connect_timeout: float = Field(default=30.0, gt=0)
    # A stream relayed from another node (cascade): its upstream closes this many seconds
    # after its last local viewer left (a viewer back within it reuses the upstream).
    relay_linger: float = Field(default=10.0, ge=0)
    # Bound on each step of opening an upstream: the holder's WHEP answer, then the
    # ICE/DTLS connection; past it the viewer gets 504, never a hang.
    relay_timeout: float = Field(default=5.0, gt=0)
    # Send each viewer's packets of one burst in UDP GSO runs (Linux: one sendmsg for a
    # frame's equal-size packets, split by the kernel) instead of a sendto each.
    udp_gso: bool = True
