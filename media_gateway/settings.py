"""The media gateway's own settings section; composed and validated by vdispatch.settings."""

from __future__ import annotations

import os
from typing import Annotated, Literal

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
    # The least bandwidth estimate (REMB, bit/s) the gateway sends a simulcast publisher.
    # A receive-side estimate stays under 1.5x what arrives, and a browser keeps its top
    # layer off until the estimate has room for it: without a floor it never sends it.
    # The publisher's own loss-based control still backs off. 0: the estimate alone.
    simulcast_publisher_bitrate: int = Field(default=2_500_000, ge=0)
    # Media processes on this node: the main one plus workers-1 child processes that
    # serve viewers (each its own event loop, one upstream per stream from the main one).
    # 0 or "auto": one per core. 1: everything in the main process.
    workers: Annotated[int, Field(ge=0, le=64)] | Literal["auto"] = 1
    # Send each viewer's packets of one burst in UDP GSO runs (Linux: one sendmsg for a
    # frame's equal-size packets, split by the kernel) instead of a sendto each.
    udp_gso: bool = True

    def worker_count(self) -> int:
        """How many media processes `workers` means on this machine (at least 1)."""
        if self.workers in (0, "auto"):
            return max(1, os.cpu_count() or 1)
        assert isinstance(self.workers, int)
        return self.workers
