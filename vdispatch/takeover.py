"""Node loss, seen from the node a station failed over to: is the stream's latest
recording in the shared catalog another node's, left open when that node died? Then the
new recording continues it (recorder.Takeover). The recorder knows no database: the
query runs here, in a thread."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from catalog import Catalog
from recorder import Takeover

from .recording_bridge import FindTakeover

# A recording closed by a crash salvage this recently still counts as lost (its node
# restarted quickly, before the station's new publication was looked up).
TAKEOVER_WINDOW = 300.0


def takeover_finder(
    catalog: Catalog, node_id: str, within: float = TAKEOVER_WINDOW
) -> FindTakeover:
    async def find(stream_id: str, recording_id: str) -> Takeover | None:
        lost = await asyncio.to_thread(
            catalog.lost_recording, stream_id, node_id, recording_id, within, datetime.now(UTC)
        )
        if lost is None:
            return None
        return Takeover(lost.recording_id, lost.node_id, lost.media_end.timestamp())

    return find
