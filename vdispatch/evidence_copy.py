"""The evidence-copy job (issue 9 item 5), joined at the root: once an interrogation is
sealed, render one MP4 of it with the recorder's engine (`recorder.render_copy`): the
room's first camera as the main picture, the prosecutor's `{session}-city` as
picture-in-picture, the trusted time and the case number burned in, a slate for each
interruption. Then sign a derived record that names the seal it comes from: the copy is
for viewing, the sealed originals stay the evidence.

- The queue is the table (signaling.EvidenceCopies): `session.sealed` on the bus (and, at
  start, any sealed session without a copy) queues a row; an auditor's POST queues one
  again. One worker renders at a time, in a thread: rendering is CPU-heavy.
- Progress goes to the row and out as `session.copy` to the copy's audience, at most
  twice a second.
- A failure records the reason (CopyError's text; anything else is logged with its
  traceback and recorded as "internal error: …"), removes the partial file and is an
  audit row. Stopping the node cancels the render and leaves the row queued, with no
  half file; a crash leaves it rendering, and the next start queues it again.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import threading
from collections.abc import Awaitable, Callable, Collection
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import av

from catalog import iso, parse_iso
from cluster import Event, EventBus
from recorder import CopyError, CopyGap, CopyPlan, CopyResult, NodeKey, render_copy
from signaling import (
    COPY_FORMAT,
    EvidenceCopies,
    EvidenceCopy,
    Hearing,
    Hearings,
    SignalingError,
    session_city_streams,
    session_copy_audience,
    session_gate_streams,
)

from .sealing import canonical

logger = logging.getLogger(__name__)

PROGRESS_EVERY = 0.5  # seconds: at most two progress updates a second
STOP_TIMEOUT = 30.0  # a cancelled render has this long to return
BEIJING = ZoneInfo("Asia/Shanghai")  # the time interruption slates name
STATEMENT = {
    "zh": "本文件是依据封存的原始录像制作的衍生副本（画中画、叠加可信时间与案号），"
    "仅供查阅；证据以封存的原始录像及其封存记录为准。",
    "en": "This file is a derived copy rendered from the sealed original recordings "
    "(picture-in-picture, trusted time and case number burned in) for viewing; the "
    "evidence is the sealed originals and their seal record.",
}


class _Stopped(Exception):
    """The node is stopping: the render was cancelled, the row goes back to the queue."""


def gap_label(interruption: dict[str, Any], end: datetime, zh: Callable[[str], str] = str) -> str:
    """What an interruption's slate says: its stream, reason (Chinese first, when `zh`
    knows it) and times in Beijing time."""
    start = parse_iso(interruption["started_at"]).astimezone(BEIJING)
    until = end.astimezone(BEIJING)
    reason = interruption["reason"]
    both = reason if zh(reason) == reason else f"{zh(reason)} {reason}"
    return (
        f"中断 Interrupted: {interruption['stream']} · {both} · "
        f"{start:%H:%M:%S}-{until:%H:%M:%S} 北京时间 (UTC+8)"
    )


def copy_plan(
    hearing: Hearing,
    seal: dict[str, Any],
    recordings_dir: Path,
    zh: Callable[[str], str] = str,
) -> CopyPlan:
    """The render's plan from the seal record alone: its recordings, span, caption and
    interruptions (what the copy shows is what was sealed)."""
    gate = session_gate_streams(hearing)
    main_stream, pip_stream = gate[0], gate[-1]
    recordings = seal["recordings"]
    main = [recordings_dir / r["id"] for r in recordings if r["stream"] == main_stream]
    pip = [recordings_dir / r["id"] for r in recordings if r["stream"] == pip_stream]
    if not main and not pip:
        raise CopyError(f"the seal lists no recording of {main_stream} or {pip_stream}")
    start, end = parse_iso(seal["started_at"]), parse_iso(seal["ended_at"])
    city = set(session_city_streams(hearing.id))
    gaps = []
    for i in seal["interruptions"]:
        gap_end = parse_iso(i["ended_at"]) if i["ended_at"] else end
        # The city side's streams are the prosecutor's picture; the rest the room's. The
        # engine shows a label only where its picture has nothing recorded.
        where = "pip" if i["stream"] in city else "main"
        label = gap_label(i, gap_end, zh)
        gaps.append(CopyGap(parse_iso(i["started_at"]), gap_end, where, label))
    caption = f"{seal['case_no']} {seal['title']}"
    return CopyPlan(main=main, pip=pip, start=start, end=end, caption=caption, gaps=tuple(gaps))


def derived_record(
    seal: dict[str, Any], plan: CopyPlan, result: CopyResult, file_name: str, node_id: str
) -> dict[str, Any]:
    """The signed record of a copy: what it is, what it was made from, and the seal."""
    sealed = json.loads(seal["record"])
    return {
        "format": COPY_FORMAT,
        "session": sealed["session"],
        "case_no": sealed["case_no"],
        "title": sealed["title"],
        "derived": True,
        "statement": STATEMENT,
        "seal": {
            "sha256": hashlib.sha256(seal["record"].encode()).hexdigest(),
            "signature": seal["signature"],
            "sealed_at": seal["sealed_at"],
        },
        "copy": {
            "file": file_name,
            "sha256": result.sha256,
            "bytes": result.bytes,
            "duration": result.duration,
            "frames": result.frames,
            "width": plan.width,
            "height": plan.height,
            "fps": plan.fps,
        },
        "started_at": sealed["started_at"],
        "ended_at": sealed["ended_at"],
        "recordings": {
            "main": [p.name for p in plan.main],
            "pip": [p.name for p in plan.pip],
        },
        "gaps": [
            {"start": iso(g.start), "end": iso(g.end), "where": g.where, "label": g.label}
            for g in plan.gaps
        ],
        "renderer": {
            "module": render_copy.__module__,
            "pyav": av.__version__,
            "ffmpeg": str(av.ffmpeg_version_info),
        },
        "node": node_id,
        "rendered_at": iso(datetime.now(UTC)),
    }


class CopyJob:
    """signaling.CopyQueue on a node that records: one worker, one render at a time."""

    def __init__(
        self,
        copies: EvidenceCopies,
        hearings: Hearings,
        bus: EventBus,
        node_id: str,
        key: NodeKey,
        recordings_dir: Path,
        copies_dir: Path,
        reason_zh: Callable[[str], str] = str,  # an interruption's reason in Chinese
        busy_nodes: Callable[[], Awaitable[Collection[str]]] | None = None,
    ) -> None:
        self.copies = copies
        self.reason_zh = reason_zh
        self.hearings = hearings
        self.bus = bus
        self.node_id = node_id
        self.key = key
        self.recordings_dir = recordings_dir
        self.copies_dir = copies_dir
        # In a cluster: the other live nodes, whose renders under way are left to them.
        self.busy_nodes = busy_nodes
        self._elsewhere: set[str] = set()  # queued copies whose recordings are not here
        self._wake = asyncio.Event()
        self._cancel = threading.Event()  # tells the render thread to stop
        self._closing = False
        self._worker: asyncio.Task[None] | None = None
        self._follower: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Follow seals, queue what a stop or crash left (and sealed sessions without a
        copy), then start the worker."""
        self._follower = asyncio.ensure_future(self._follow_seals())
        busy = await self.busy_nodes() if self.busy_nodes is not None else ()
        queued = await asyncio.to_thread(self._recover, busy)
        if queued:
            logger.info("evidence copies: %d queued (%s)", len(queued), ", ".join(queued))
        self._worker = asyncio.ensure_future(self._run())

    def _recover(self, busy: Collection[str]) -> list[str]:
        self.copies_dir.mkdir(parents=True, exist_ok=True)
        for stale in self.copies_dir.glob("*.part"):
            stale.unlink(missing_ok=True)  # a crash mid-render: never a half file
        for session in self.copies.sealed_without_copy():
            with contextlib.suppress(SignalingError):
                self.copies.request(session, "system")
        return self.copies.requeue_unfinished(busy)

    def wake(self) -> None:
        self._elsewhere.clear()  # look again: a copy left to others may be ours now
        self._wake.set()

    async def close(self) -> None:
        """Cancel the render under way (its row goes back to the queue) and stop."""
        self._closing = True
        self._cancel.set()
        self._wake.set()
        if self._follower is not None:
            self._follower.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._follower
        if self._worker is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._worker), STOP_TIMEOUT)
            except TimeoutError:
                logger.error("evidence copies: the render did not stop within %.0f s", STOP_TIMEOUT)
                self._worker.cancel()

    # ------------------------------------------------------------ queueing

    async def _follow_seals(self) -> None:
        async for event in self.bus.subscribe("session.sealed"):
            session = event.data.get("session")
            hearing_id = session.get("id") if isinstance(session, dict) else None
            if not isinstance(hearing_id, str):
                continue
            try:
                copy = await asyncio.to_thread(self.copies.request, hearing_id, "system")
            except SignalingError as exc:
                logger.warning("evidence copy of %s not queued: %s", hearing_id, exc.reason)
                continue
            except Exception:
                logger.exception("evidence copy of %s not queued", hearing_id)
                continue
            await self._tell(hearing_id, copy)
            self.wake()

    async def _run(self) -> None:
        while not self._closing:
            try:
                skip = set(self._elsewhere)
                copy = await asyncio.to_thread(self.copies.next_queued, skip)
                if copy is None:
                    self._wake.clear()
                    skip = set(self._elsewhere)
                    copy = await asyncio.to_thread(self.copies.next_queued, skip)  # no lost wake
                if copy is None:
                    await self._wake.wait()
                    continue
                if self._closing:
                    return  # it stays queued for the next start
                await self._render(copy.session)
            except Exception:
                # The store itself failing: log it, do not spin.
                logger.exception("evidence copies: the worker failed (retrying)")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), 5.0)

    # ------------------------------------------------------------ one render

    async def _render(self, hearing_id: str) -> None:
        if not await asyncio.to_thread(self._recordings_here, hearing_id):
            busy = await self.busy_nodes() if self.busy_nodes is not None else ()
            if busy:
                # Another node of the cluster recorded it: that node renders it.
                self._elsewhere.add(hearing_id)
                return
        # Every node hears the seal and queues it (idempotent); the first to begin it
        # renders it, the others find it no longer queued.
        copy = await asyncio.to_thread(self.copies.begin, hearing_id, self.node_id)
        if copy is None:
            return
        await self._tell(hearing_id, copy)
        out = self.copies_dir / f"{hearing_id}.mp4"
        latest = [0.0]
        reporter = asyncio.ensure_future(self._report(hearing_id, latest))
        try:
            done = await self._make(hearing_id, out, latest)
        except _Stopped:
            await asyncio.to_thread(_remove, out)
            await asyncio.to_thread(self.copies.back_to_queue, hearing_id)
            logger.info("evidence copy of %s: stopped with the node, queued again", hearing_id)
            return
        except CopyError as exc:
            await asyncio.to_thread(_remove, out)
            done = await self._failed(hearing_id, str(exc) or type(exc).__name__)
        except Exception as exc:
            logger.exception("evidence copy of %s failed", hearing_id)
            await asyncio.to_thread(_remove, out)
            done = await self._failed(hearing_id, f"internal error: {exc!r}")
        finally:
            reporter.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reporter
        await self._tell(hearing_id, done)

    def _recordings_here(self, hearing_id: str) -> bool:
        """Whether this node's recordings directory has every recording the seal lists."""
        seal = self.hearings.seal_of(hearing_id)
        if seal is None:
            return True  # _make says why it cannot render
        try:
            recordings = json.loads(seal["record"])["recordings"]
        except (ValueError, KeyError, TypeError):
            return True
        return all((self.recordings_dir / str(r.get("id"))).is_dir() for r in recordings)

    async def _make(self, hearing_id: str, out: Path, latest: list[float]) -> EvidenceCopy:
        hearing = await asyncio.to_thread(self.hearings.get, hearing_id)
        seal = await asyncio.to_thread(self.hearings.seal_of, hearing_id)
        if hearing is None or seal is None:
            raise CopyError(f"session {hearing_id} has no seal")
        sealed = json.loads(seal["record"])
        plan = copy_plan(hearing, sealed, self.recordings_dir, self.reason_zh)
        await asyncio.to_thread(_remove, out)  # a copy rendered before: replaced

        def progress(fraction: float) -> None:
            latest[0] = fraction  # from the render thread; the reporter reads it

        try:
            # The engine writes out.part and renames it (fsync'd) once complete.
            result = await asyncio.to_thread(render_copy, plan, out, progress, self._cancel)
        except Exception:
            if self._cancel.is_set():
                raise _Stopped from None
            raise
        if self._cancel.is_set():
            raise _Stopped
        record = derived_record(seal, plan, result, out.name, self.node_id)
        text = canonical(record)
        signature = self.key.sign(text).hex()
        logger.info(
            "evidence copy of %s: %.1f s, %d bytes, sha256 %s",
            hearing_id,
            result.duration,
            result.bytes,
            result.sha256,
        )
        finished: EvidenceCopy = await asyncio.to_thread(
            self.copies.finish,
            hearing_id,
            path=str(out),
            sha256=result.sha256,
            size=result.bytes,
            duration=result.duration,
            record=text.decode(),
            signature=signature,
            public_key=self.key.public_pem.decode(),
        )
        return finished

    async def _failed(self, hearing_id: str, reason: str) -> EvidenceCopy:
        logger.warning("evidence copy of %s failed: %s", hearing_id, reason)
        return await asyncio.to_thread(self.copies.fail, hearing_id, reason)

    async def _report(self, hearing_id: str, latest: list[float]) -> None:
        """The render's progress to the row and the bus, at most twice a second."""
        told = 0.0
        while True:
            await asyncio.sleep(PROGRESS_EVERY)
            if latest[0] <= told:
                continue
            told = latest[0]
            copy = await asyncio.to_thread(self.copies.set_progress, hearing_id, told)
            if copy is not None:
                await self._tell(hearing_id, copy)

    async def _tell(self, hearing_id: str, copy: EvidenceCopy) -> None:
        hearing = await asyncio.to_thread(self.hearings.get, hearing_id)
        if hearing is None:
            return
        data = {"copy": copy.brief(), "audience": session_copy_audience(hearing)}
        await self.bus.publish(Event("session.copy", data, self.node_id))


def _remove(out: Path) -> None:
    """No half (or stale) copy under its name, nor the engine's partial file."""
    out.unlink(missing_ok=True)
    out.with_name(out.name + ".part").unlink(missing_ok=True)
