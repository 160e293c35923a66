"""Which live session each stream's recordings are bound to: the join of signaling's
hearing sessions and the recorder, made at the root (neither knows the other).

In memory: the live sessions, each with the streams it covers (its station's cameras and
the city side's `{session}-city|talkback|reply`), in the order they went live; a stream
covered by several is bound to the newest. Loaded from the store at start (in a thread),
then kept current by the bus: `session.started` binds a session's streams,
`session.ended` unbinds them, and each change is handed to `on_change` (the recording
bridge, which cuts the stream's recording over: Recorder.rebind). A stream that starts
publishing later asks `session_for` and is bound from its first recording.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from cluster import Event, EventBus
from recorder.continuity import reason
from signaling import Hearings, session_city_streams

logger = logging.getLogger(__name__)

OnChange = Callable[[str, str | None, str], None]  # stream id, session (or None), why


def _nothing(stream_id: str, session: str | None, why: str) -> None: ...


class SessionBinding:
    def __init__(self, hearings: Hearings, bus: EventBus, on_change: OnChange = _nothing) -> None:
        self.hearings = hearings
        self.bus = bus
        self.on_change = on_change
        self._live: dict[str, tuple[str, ...]] = {}  # session id -> its streams
        self._loaded: asyncio.Future[None] | None = None
        self._task: asyncio.Task[None] | None = None

    def session_for(self, stream_id: str) -> str | None:
        """The live session the stream is bound to now, if any."""
        for session_id in reversed(self._live):
            if stream_id in self._live[session_id]:
                return session_id
        return None

    @property
    def live(self) -> dict[str, tuple[str, ...]]:
        return dict(self._live)

    async def start(self) -> None:
        """Subscribe, then load the live sessions: an event published meanwhile is applied
        after the load, so the map ends up as the store and the bus say."""
        self._loaded = asyncio.get_running_loop().create_future()
        self._task = asyncio.ensure_future(self._follow(self._loaded))
        await asyncio.sleep(0)  # the follower runs up to its first wait: subscribed
        try:
            live = await asyncio.to_thread(self.hearings.list, state="live")
        except Exception:
            self._loaded.set_result(None)
            raise
        for hearing in sorted(live, key=lambda h: (h.started_at or h.created_at, h.id)):
            self._live[hearing.id] = _streams(hearing.id, hearing.streams)
        self._loaded.set_result(None)
        logger.info("session binding: %d live sessions", len(self._live))

    async def _follow(self, loaded: asyncio.Future[None]) -> None:
        try:
            async for event in self.bus.subscribe("session."):
                await loaded
                try:
                    self.apply(event)
                except Exception:
                    logger.exception("session binding: %s not applied", event.topic)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("session binding: the bus subscription failed")
        finally:
            logger.info("session binding: stopped following the bus")

    def apply(self, event: Event) -> None:
        data: dict[str, Any] = event.data.get("session") or {}
        session_id = data.get("id")
        if not isinstance(session_id, str):
            return
        if event.topic == "session.started":
            streams = _streams(session_id, data.get("streams") or [])
            why = reason("session-started", session=session_id)
        elif event.topic == "session.ended":
            streams = self._live.get(session_id, ())
            why = reason("session-ended", session=session_id)
        else:
            return
        before = {stream: self.session_for(stream) for stream in streams}
        if event.topic == "session.started":
            self._live[session_id] = streams
        else:
            self._live.pop(session_id, None)
        for stream in streams:
            now = self.session_for(stream)
            if now != before[stream]:
                self.on_change(stream, now, why)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


def _streams(session_id: str, streams: Any) -> tuple[str, ...]:
    station = [s for s in streams if isinstance(s, str)]
    return tuple(dict.fromkeys([*station, *session_city_streams(session_id)]))
