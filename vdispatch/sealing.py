"""An interrogation's evidence on this node (issue 9 items 2 and 4), joined at the root:
signaling asks through `SessionEvidence` (EVIDENCE_KEY), the recorder and the catalog
answer.

- The start gate: an interrogation goes live only when every stream of both sides (the
  station's cameras and `{session}-city`) is published and its recording has written
  its first keyframe.
- Interruptions: while an interrogation is live, a stream's publisher leaving or its
  recording raising an alarm is an interruption (stored append-only, audited, and told
  at once as `session.interruption` to the session's audience); its end is set once,
  when the stream is back.
- The seal: once the session's recordings have closed, a canonical JSON record of the
  session (recordings with their final chain hash and manifest signature, interruptions,
  the record's newest version, participants, times) signed with the node's Ed25519 key;
  every sealed recording is put on legal hold, so retention never deletes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from catalog import Catalog, iso
from cluster import Event, EventBus
from media_gateway import MediaGateway, Publication, RouterListener
from recorder import Recorder
from recorder import manifest as mf
from recorder.continuity import reason
from signaling import (
    Hearing,
    HearingError,
    Hearings,
    session_audience,
    session_gate_streams,
)

from . import session_package
from .session_package import lead_ins, session_files, session_recordings, session_streams

logger = logging.getLogger(__name__)

SEAL_FORMAT = "vdispatch-seal/1"
SEAL_JSON = "seal.json"
SEAL_SIG = "seal.sig"
# How long a seal waits for the session's recordings to close (a cut-over waits up to
# the recorder's CUT_TIMEOUT for a keyframe, then the overlap).
CLOSE_TIMEOUT = 20.0


def canonical(value: Any) -> bytes:
    """Sorted keys, no spaces, UTF-8: the exact bytes that are signed."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def recording_entry(directory: Path) -> dict[str, Any]:
    """What a seal says of one recording: its final chain hash and manifest signature."""
    manifest = mf.load(directory)
    if manifest.state != "closed":
        raise HearingError(409, f"recording {manifest.recording_id} is {manifest.state}")
    return {
        "id": manifest.recording_id,
        "stream": manifest.stream,
        "chain": manifest.last_chain.hex(),
        "signature": (directory / mf.SIGNATURE).read_bytes().hex(),
        "segments": len(manifest.segments),
        "started_at": manifest.started_at,
        "ended_at": manifest.ended_at,
        # None or another session's id: a lead-in, recorded before this session's cut-over.
        "bound_to": manifest.session,
    }


class NodeEvidence:
    """SessionEvidence on a node that records (signaling.hearing.SessionEvidence)."""

    def __init__(
        self,
        hearings: Hearings,
        recorder: Recorder,
        gateway: MediaGateway,
        catalog: Catalog,
        node_id: str,
    ) -> None:
        self.hearings = hearings
        self.recorder = recorder
        self.gateway = gateway
        self.catalog = catalog
        self.node_id = node_id
        self.close_timeout = CLOSE_TIMEOUT
        self._sealing: set[str] = set()

    def start_refusal(self, hearing: Hearing) -> str | None:
        for stream in session_gate_streams(hearing):
            if self.gateway.publication(stream) is None:
                return f"stream {stream} is not on air: an interrogation starts once it is recorded"
            if not self.recorder.has_media(stream):
                return f"stream {stream} is not recording yet (no keyframe written)"
        return None

    async def seal(self, hearing: Hearing, actor: str) -> Hearing:
        if hearing.id in self._sealing:
            raise HearingError(409, f"session {hearing.id} is being sealed")
        self._sealing.add(hearing.id)
        try:
            if not await self.recorder.session_closed(hearing.id, self.close_timeout):
                raise HearingError(
                    409, f"session {hearing.id}: its recordings are still closing, seal it again"
                )
            return await asyncio.to_thread(self._seal, hearing.id, actor)
        finally:
            self._sealing.discard(hearing.id)

    def _seal(self, hearing_id: str, actor: str) -> Hearing:
        """Blocking: build, sign and store the seal record, then hold the recordings."""
        hearing = self.hearings.get(hearing_id)
        if hearing is None:
            raise HearingError(404, f"no session {hearing_id}")
        if hearing.state != "ended":
            raise HearingError(409, f"session {hearing_id} is {hearing.state}: cannot be sealed")
        recordings_dir = self.recorder.settings.recordings_dir
        streams = session_streams(hearing)
        bound = session_recordings(recordings_dir, hearing_id, streams)
        # With the lead-ins: the start of the session up to each stream's cut-over.
        directories = bound + lead_ins(recordings_dir, hearing, streams)
        recordings = sorted(
            (recording_entry(d) for d in directories), key=lambda r: (r["started_at"], r["id"])
        )
        record = {
            "format": SEAL_FORMAT,
            "session": hearing.id,
            "kind": hearing.kind,
            "title": hearing.title,
            "case_no": hearing.case_no,
            "station": hearing.station,
            "county": hearing.county,
            "node": self.node_id,
            "participants": [{"user": hearing.created_by, "part": "director"}]
            + [p.as_json() for p in hearing.participants],
            "started_at": iso(hearing.started_at),
            "ended_at": iso(hearing.ended_at),
            "interruptions": self.hearings.interruptions(hearing_id),
            "recordings": recordings,
            "record": self.hearings.latest_record(hearing_id),
            "sealed_at": iso(datetime.now(UTC)),
            "sealed_by": actor,
        }
        text = canonical(record)
        signature = self.recorder.key.sign(text).hex()
        public = self.recorder.key.public_pem.decode()
        # Held before the seal is stored: a sealed recording is never without its hold.
        for directory in directories:
            self.catalog.upsert_from_manifest(directory)
            self.catalog.set_legal_hold(
                directory.name, True, actor, reason=f"sealed session {hearing_id}"
            )
        sealed = self.hearings.seal(hearing_id, text.decode(), signature, public, actor)
        logger.info("session %s sealed: %d recordings", hearing_id, len(recordings))
        return sealed

    # ------------------------------------------------------------ a sealed session's evidence

    async def verify_session(self, hearing_id: str, actor: str) -> dict[str, Any]:
        return await asyncio.to_thread(self._verify_session, hearing_id, actor)

    def _files(self, hearing_id: str) -> session_package.SessionFiles:
        try:
            return session_files(self.hearings, self.recorder.settings.recordings_dir, hearing_id)
        except LookupError as exc:
            raise HearingError(404, str(exc)) from None

    def _verify_session(self, hearing_id: str, actor: str) -> dict[str, Any]:
        """Blocking: every byte of every recording. Audited with the outcome (the first
        problem names a recording and a segment, never anyone's personal data)."""
        files = self._files(hearing_id)
        check = session_package.verify_session(
            files, self.recorder.settings.recordings_dir, [self.recorder.key.public_pem]
        )
        problem = check.problems[0] if check.problems else None
        detail = {"ok": check.ok, "recordings": len(check.recordings), "problem": problem}
        self.catalog.audit(actor, "session.verify", f"session:{hearing_id}", detail)
        return check.as_json()

    async def write_package(
        self, hearing_id: str, actor: str, out: Path, petition: bool
    ) -> dict[str, Any]:
        return await asyncio.to_thread(self._write_package, hearing_id, actor, out, petition)

    def _write_package(
        self, hearing_id: str, actor: str, out: Path, petition: bool
    ) -> dict[str, Any]:
        """Blocking. Logged before it is written (an export the audit log cannot record
        does not happen); the row says whether the petition went in, not what it says."""
        files = self._files(hearing_id)
        if files.seal is None:
            state = files.state  # scheduled, live or ended
            why = f"session {hearing_id} is {state}: only a sealed session is exported"
            raise HearingError(409, why)
        ticket = session_package.petition_of(self.catalog.engine, hearing_id) if petition else None
        target = f"session:{hearing_id}"
        detail: dict[str, Any] = {"via": "console", "recordings": len(files.directories)}
        if ticket is not None:
            detail["petition"] = True
        self.catalog.audit(actor, "session.export", target, detail)
        audit = session_package.package_audit(self.catalog, files)
        try:
            session_package.write_session_package(files, out, audit, ticket)
        except Exception as exc:
            self.catalog.audit(actor, "session.export-failed", target, {"error": str(exc)})
            raise
        return {"recordings": len(files.directories), "petition": ticket is not None}


class InterruptionWatch(RouterListener):
    """A live interrogation's stream going down (its publisher leaving) or its recording
    raising an alarm: an interruption, told at once to both sides; the stream coming
    back ends it."""

    def __init__(
        self,
        hearings: Hearings,
        bus: EventBus,
        node_id: str,
        session_for: Callable[[str], str | None],  # the live session a stream is bound to
    ) -> None:
        self.hearings = hearings
        self.bus = bus
        self.node_id = node_id
        self.session_for = session_for
        self._tasks: set[asyncio.Task[None]] = set()
        # stream id -> its newest interrupt/resume: each waits for the one before, so a
        # stream back at once never ends its interruption before it is stored
        self._last: dict[str, asyncio.Task[None]] = {}
        self._follower: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._follower = asyncio.ensure_future(self._follow_alarms())

    def on_published(self, publication: Publication) -> None:
        self._in_order(publication.stream_id, self._resumed, datetime.now(UTC))

    def on_unpublished(self, publication: Publication) -> None:
        stream = publication.stream_id
        why = reason("publisher-disconnected")
        self._in_order(stream, self._interrupted, "stream-lost", why, datetime.now(UTC))

    async def _follow_alarms(self) -> None:
        """A recording's alarm interrupts; its next closed segment (written again) ends it."""
        failed: set[str] = set()  # streams whose recording raised an alarm
        async for event in self.bus.subscribe("recording."):
            if event.node_id != self.node_id:
                continue  # another node's recorder: that node tells its interruptions
            stream, at = event.data.get("stream"), datetime.now(UTC)
            if not isinstance(stream, str):
                continue
            if event.topic == "recording.alarm":
                failed.add(stream)
                message = str(event.data.get("message"))
                self._in_order(stream, self._interrupted, "recording-failed", message, at)
            elif event.topic == "recording.segment" and stream in failed:
                failed.discard(stream)
                self._in_order(stream, self._resumed, at)

    async def _interrupted(self, stream: str, kind: str, why: str, at: datetime) -> None:
        session = self.session_for(stream)
        if session is None:
            return
        entry = await asyncio.to_thread(self.hearings.interrupt, session, stream, kind, why, at)
        if entry is not None:
            await self._tell("session.interruption", session, entry)

    async def _resumed(self, stream: str, at: datetime) -> None:
        session = self.session_for(stream)
        if session is None:
            return
        entry = await asyncio.to_thread(self.hearings.resume, session, stream, at)
        if entry is not None:
            await self._tell("session.interruption-ended", session, entry)

    async def _tell(self, topic: str, session: str, entry: dict[str, Any]) -> None:
        hearing = await asyncio.to_thread(self.hearings.get, session)
        if hearing is None:
            return
        data = {
            "session": hearing.as_json(),
            "interruption": entry,
            "audience": session_audience(hearing),
        }
        logger.warning("session %s: %s %s", session, topic, entry)
        await self.bus.publish(Event(topic, data, self.node_id))

    def _in_order(self, stream: str, step: Callable[..., Awaitable[None]], *args: Any) -> None:
        before = self._last.get(stream)

        async def run() -> None:
            if before is not None:
                with contextlib.suppress(Exception):
                    await asyncio.shield(before)
            try:
                await step(stream, *args)
            except Exception:
                logger.exception("interruptions: %s of %s failed", step.__name__, stream)

        task = asyncio.ensure_future(run())
        self._last[stream] = task
        self._tasks.add(task)

        def done(finished: asyncio.Task[None]) -> None:
            self._tasks.discard(finished)
            if self._last.get(stream) is finished:
                del self._last[stream]

        task.add_done_callback(done)

    async def close(self) -> None:
        if self._follower is not None:
            self._follower.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._follower
        if self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
