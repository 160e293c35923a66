"""Recorder.rebind cuts a live stream over to a new recording bound to another session:
the two overlap (nothing lost), the cut's reason is the old one's end_reason and heads
the new one's continuity log; without a keyframe the old one closes after a timeout and
says so; the session binding picks the newest live session covering a stream."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from pathlib import Path

from cluster import Event
from media_gateway.packet import RelayPacket
from recorder import Recorder, RecorderSettings, TrackFeed, TrackInfo, verify_recording
from recorder import manifest as mf
from recorder.feed import NTP_EPOCH_OFFSET
from vdispatch.session_binding import SessionBinding

from .recordings import _packetize, frames

VIDEO = [TrackInfo("video", "video/vp8", 90000)]
FPS = 30


class Sender:
    """The producer's side: each frame's packets to every feed connected."""

    def __init__(self, feeds: list[TrackFeed]) -> None:
        self.feeds = feeds
        self.seq = 0
        self.sent = 0

    async def send(self, data: list[bytes], start: float) -> None:
        for data_i in data:
            i = self.sent
            for feed in self.feeds:
                if i == 0:
                    feed.sender_report(int((start + NTP_EPOCH_OFFSET) * (1 << 32)), 0)
            payloads = _packetize("vp8", data_i, i & 0x7FFF)
            for j, payload in enumerate(payloads):
                ts = (i * 90000 // FPS) & 0xFFFFFFFF
                packet = RelayPacket(self.seq, ts, int(j == len(payloads) - 1), payload, False, 0.0)
                for feed in self.feeds:
                    feed.send(packet)
                self.seq = (self.seq + 1) & 0xFFFF
            self.sent += 1
            await asyncio.sleep(1 / FPS / 4)  # faster than real time, slow enough to cut


def recorder(tmp_path: Path) -> Recorder:
    return Recorder(RecorderSettings(data_dir=tmp_path, segment_seconds=1), node_id="test-node")


def mf_wall(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def on_disk(tmp_path: Path) -> list[mf.Manifest]:
    found = [mf.load(d) for d in (tmp_path / "recordings").iterdir()]
    return sorted(found, key=lambda m: m.started_at)


async def test_a_cut_over_overlaps_and_records_its_reason(tmp_path: Path) -> None:
    rec = recorder(tmp_path)
    rec.cut_overlap = 0.2
    keyframes: list[int] = []
    sender = Sender([])
    sender.feeds = list(rec.start("cam", VIDEO, lambda: keyframes.append(1)).values())
    video = frames(150)
    start = time.time()
    await sender.send(video[:45], start)  # a keyframe at 0 and 30
    asked = len(keyframes)
    new = rec.rebind("cam", "s1", "session s1 started")
    assert set(new) == {"video"} and len(keyframes) == asked + 1  # a keyframe asked for
    assert rec.rebind("cam", "s1", "again") == {}  # already bound so
    sender.feeds += new.values()
    await sender.send(video[45:150], start)
    await rec.close()
    before, bound = on_disk(tmp_path)
    assert (before.session, bound.session) == (None, "s1")
    assert before.end_reason == "session s1 started"
    cut = bound.continuity[0]
    assert (cut.kind, cut.reason) == ("session-cut", "session s1 started")
    # The new one starts at the keyframe of frame 60; the old one runs past it.
    assert mf_wall(bound.segments[0].start) <= mf_wall(before.segments[-1].end)
    assert abs(mf_wall(bound.segments[0].start) - (start + 60 / FPS)) < 0.05
    for m in (before, bound):
        assert verify_recording(tmp_path / "recordings" / m.recording_id).ok


async def test_without_a_keyframe_the_old_recording_closes_after_the_timeout(
    tmp_path: Path,
) -> None:
    rec = recorder(tmp_path)
    rec.cut_timeout = 0.3
    sender = Sender(list(rec.start("cam", VIDEO, lambda: None).values()))
    start = time.time()
    video = frames(150)
    await sender.send(video[:20], start)
    sender.feeds += rec.rebind("cam", "s1", "session s1 started").values()
    await sender.send(video[1:29], start)  # no keyframe among these
    await asyncio.sleep(0.5)
    before = on_disk(tmp_path)[0]
    assert before.state == "closed" and before.end_reason == "session s1 started"
    assert before.continuity[-1].kind == "session-cut"
    assert before.continuity[-1].reason.startswith("no keyframe 0.3 s after the cut")
    await rec.close()


async def test_rebinding_a_stream_whose_publisher_is_away_closes_its_recording(
    tmp_path: Path,
) -> None:
    rec = recorder(tmp_path)
    sender = Sender(list(rec.start("cam", VIDEO, lambda: None).values()))
    await sender.send(frames(40)[:40], time.time())
    rec.stopped("cam")
    assert rec.rebind("cam", "s1", "session s1 started") == {}
    await asyncio.sleep(0.3)
    assert on_disk(tmp_path)[0].end_reason == "session s1 started"
    feeds = rec.start("cam", VIDEO, lambda: None, session="s1")  # back: bound from the start
    assert rec.active["cam"].manifest.session == "s1" and feeds
    await rec.close()


class FakeHearings:
    def list(self, **_: object) -> list[object]:
        return []


async def test_the_binding_follows_session_events_and_the_newest_session_wins() -> None:
    changes: list[tuple[str, str | None, str]] = []
    binding = SessionBinding(FakeHearings(), None, lambda *c: changes.append(c))  # type: ignore[arg-type]

    def event(topic: str, sid: str, streams: list[str]) -> Event:
        return Event(topic, {"session": {"id": sid, "streams": streams}})

    binding.apply(event("session.started", "s1", ["wide", "judge"]))
    assert binding.session_for("wide") == "s1" and binding.session_for("s1-city") == "s1"
    assert binding.session_for("other") is None
    binding.apply(event("session.started", "s2", ["wide"]))
    binding.apply(event("session.ended", "s2", ["wide"]))
    binding.apply(event("session.ended", "s1", []))
    assert [c for c in changes if c[0] == "wide"] == [
        ("wide", "s1", "session s1 started"),
        ("wide", "s2", "session s2 started"),
        ("wide", "s1", "session s2 ended"),
        ("wide", None, "session s1 ended"),
    ]
    assert ("s1-reply", None, "session s1 ended") in changes
