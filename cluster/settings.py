"""The cluster's settings section; composed and validated by vdispatch.settings."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class ClusterSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    # redis://host:port/db; unset: a single node on the in-process bus. Nodes of one
    # cluster share this Redis, one PostgreSQL catalog (DATABASE_URL) and one SECRET
    # (their bus messages and directory entries are signed with a key derived from it).
    redis_url: str | None = None
    # A viewer asking a node for a stream another node holds: "cascade" relays it from
    # the holder (one upstream per stream per node, fanned out here); "redirect" answers
    # 307 to the holder's public URL.
    relay: Literal["cascade", "redirect"] = "cascade"
    # How often a node refreshes its heartbeat and its streams' directory entries.
    heartbeat_seconds: float = Field(default=2.0, gt=0, le=30)
    # A node (and its streams) not refreshed for this long is gone from the directory.
    entry_ttl_seconds: float = Field(default=6.0, gt=0, le=60)
    # Prefix of every Redis key and channel (several clusters, or tests, on one Redis).
    key_prefix: str = Field(default="vdispatch", pattern=r"^[A-Za-z0-9_.:-]{1,64}$")
