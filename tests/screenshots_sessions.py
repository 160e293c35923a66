"""The sessions and the dispatch of `make screenshots`, made through the real API as the
demo's accounts (tests/console.py): yesterday's courtroom-direction session at 甲县's
courtroom (ended, evaluated, with its recordings bound), today's live one (directions
read, observers' comments), two scheduled ones, and the command hall's screens.

The API stamps everything "now"; what happened over twenty minutes yesterday (or since
the live session started) is then moved to its demo time in the store's rows: the same
rows, the same ids, only the times (and the ended session's id names its day, as an id
made then would)."""

# The demo text is Chinese, with its full-width punctuation.
# ruff: noqa: RUF001

from __future__ import annotations

import asyncio
import json
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from unittest import mock

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from catalog import CommentRow, DirectionRow, HearingRow, parse_iso, writer
from recorder import manifest as mf
from signaling import ARCHIVE_KEY, USERS_KEY
from signaling import hearings as hearings_store
from vdispatch.demo import ACCOUNTS, SESSION_CASE_NO, SESSION_TITLE

from .console import PASSWORD, Console, logged_in
from .recordings import make_recording

COURT = "county-a-court"  # the demo's courtroom: panorama, judge and defendant cameras
# Yesterday's session: its start (hours after midnight) and length in seconds.
ENDED_AT_HOUR, ENDED_SECONDS = 14.5, 22 * 60
# (seconds after the start, text, urgent, read after s)
ENDED_DIRECTIONS = [
    (250, "请注意辩护人对证据二的质证意见，做好答辩准备", False, 15),
    (570, "被告人当庭翻供，立即申请播放讯问同步录音录像", True, 4),
    (960, "法庭辩论阶段，重点围绕量刑情节发表意见", False, 20),
]
ENDED_COMMENTS = [
    (312, "举证顺序清晰，示证到位"),
    (598, "针对翻供应对及时，出示同步录音录像有力"),
    (1105, "答辩略显冗长，可进一步精简"),
]
ENDED_EVALUATION = "指挥及时，公诉人应对翻供得当，出庭效果良好；建议法庭辩论阶段进一步精简答辩。"
# The live session: started this long ago; its directions (seconds ago, text, urgent,
# read after s, or None: not read yet) and comments (media time).
LIVE_FOR = 26 * 60
LIVE_DIRECTIONS = [
    (1140, "请就证据三（银行流水）向被告人发问", False, 18),
    (480, "辩护人申请证人出庭，请立即表态并说明反对理由", True, 5),
    (95, "注意控制发问节奏，避免诱导性发问", False, None),
]
LIVE_COMMENTS = [(412, "讯问节奏把握较好"), (845, "对证人出庭申请的回应及时、有据")]
PHRASES = ["请围绕起诉书指控事实发问", "请出示相关证据", "注意发问方式，避免诱导", "申请休庭"]
# The command hall's screens: name, title, grid, sources.
SCREENS = [
    (
        "hall",
        "指挥中心大厅 主屏",
        4,
        [COURT, "county-b-interrogation", "county-c-reception", "county-d-court"],
    ),
    ("hall-side", "指挥中心大厅 副屏", 1, [COURT]),
]


@dataclass
class Sessions:
    live: str
    ended: str
    ended_recordings: list[str]


async def add_accounts(app: web.Application) -> None:
    """The demo's accounts (its display names and counties), with the tests' password."""
    users = app[USERS_KEY]
    for name, role, display, county in ACCOUNTS:
        await asyncio.to_thread(users.add, name, role, PASSWORD, display, county=county)


async def _call(c: Console, method: str, path: str, body: Any = None) -> Any:
    answer = await c.request(method, path, data=json.dumps({} if body is None else body))
    assert answer.status in (200, 201), (method, path, answer.status, answer.text)
    return json.loads(answer.text)


def _new(title: str, case_no: str, kind: str, station: str, when: datetime) -> dict[str, Any]:
    participants = [{"user": "observer", "part": "observer"}]
    if kind == "direction":
        participants.insert(0, {"user": "prosecutor", "part": "prosecutor"})
    return {
        "kind": kind,
        "station": station,
        "title": title,
        "case_no": case_no,
        "scheduled_for": when.isoformat(),
        "participants": participants,
    }


async def _run(
    director: Console,
    prosecutor: Console,
    observer: Console,
    sid: str,
    directions: list[tuple[str, bool, bool]],
    comments: list[tuple[float, str]],
) -> None:
    """Start the session, send the directions (those marked read, read at the terminal)
    and post the comments (at their media time)."""
    base = f"/api/sessions/{sid}"
    await _call(director, "POST", f"{base}/start")
    for text, urgent, read in directions:
        sent = await _call(director, "POST", f"{base}/directions", {"text": text, "urgent": urgent})
        if read:
            await _call(prosecutor, "POST", f"{base}/directions/{sent['id']}/read")
    for media_time, text in comments:
        body = {"text": text, "media_time": media_time}
        await _call(observer, "POST", f"{base}/comments", body)


def _retime(
    app: web.Application,
    sid: str,
    *,
    created: datetime,
    started: datetime,
    ended: datetime | None = None,
    evaluated: datetime | None = None,
    directions: list[tuple[datetime, datetime | None]],
) -> None:
    """Blocking: the session's times, its directions' (sent, read) and its comments'
    (posted at the start plus their media time)."""
    make = sessionmaker(writer(app[ARCHIVE_KEY].catalog.engine))
    with make.begin() as session:
        row = session.get(HearingRow, sid)
        assert row is not None
        row.created_at, row.started_at = created, started
        if ended is not None:
            row.ended_at = ended
        if evaluated is not None:
            row.evaluated_at = evaluated
        rows = session.scalars(
            select(DirectionRow).where(DirectionRow.hearing_id == sid).order_by(DirectionRow.id)
        )
        for d, (sent, read) in zip(rows, directions, strict=True):
            d.sent_at = sent
            if d.read_at is not None:
                d.read_at = read
        for c in session.scalars(select(CommentRow).where(CommentRow.hearing_id == sid)):
            c.posted_at = started + timedelta(seconds=c.media_time + 20)


async def make_sessions(url: str, app: web.Application, data: Path, day: datetime) -> Sessions:
    """Before any station is on air (a live session binds what is recorded while live)."""
    now = datetime.now(UTC)
    async with (
        logged_in(url, "commander") as director,
        logged_in(url, "prosecutor") as prosecutor,
        logged_in(url, "observer") as observer,
    ):
        # Yesterday afternoon's session, its id of that day.
        start = (day + timedelta(hours=ENDED_AT_HOUR)).astimezone(UTC)
        new_id = hearings_store.new_hearing_id
        with mock.patch.object(hearings_store, "new_hearing_id", lambda _now: new_id(start)):
            ended = await _call(
                director,
                "POST",
                "/api/sessions",
                _new("刘某某等三人诈骗案 庭审", "甲检刑诉〔2026〕9号", "direction", COURT, start),
            )
        sid = ended["id"]
        await _run(
            director,
            prosecutor,
            observer,
            sid,
            [(text, urgent, True) for _, text, urgent, _ in ENDED_DIRECTIONS],
            [(float(t), text) for t, text in ENDED_COMMENTS],
        )
        city = {"direction": "publish", "stream": "city"}
        await _call(director, "POST", f"/api/sessions/{sid}/media", city)
        await _call(director, "POST", f"/api/sessions/{sid}/end")
        await _call(director, "POST", f"/api/sessions/{sid}/evaluation", {"text": ENDED_EVALUATION})
        finish = start + timedelta(seconds=ENDED_SECONDS)
        await asyncio.to_thread(
            _retime,
            app,
            sid,
            created=start - timedelta(hours=5, minutes=12),
            started=start,
            ended=finish,
            evaluated=finish + timedelta(minutes=14),
            directions=[
                (start + timedelta(seconds=t), start + timedelta(seconds=t + r))
                for t, _, _, r in ENDED_DIRECTIONS
            ],
        )
        recordings = await _ended_recordings(data, sid, start, finish)
        await asyncio.to_thread(app[ARCHIVE_KEY].catalog.sync, data / "recordings")

        # Today: the live session, started a while ago; and two to come.
        local = datetime.now().astimezone()
        began = now - timedelta(seconds=LIVE_FOR)
        live = await _call(
            director,
            "POST",
            "/api/sessions",
            _new(SESSION_TITLE, SESSION_CASE_NO, "direction", COURT, began),
        )
        await _call(director, "PUT", "/api/me/phrases", {"phrases": PHRASES})
        await _run(
            director,
            prosecutor,
            observer,
            live["id"],
            [(text, urgent, read is not None) for _, text, urgent, read in LIVE_DIRECTIONS],
            [(float(t), text) for t, text in LIVE_COMMENTS],
        )
        await asyncio.to_thread(
            _retime,
            app,
            live["id"],
            created=began - timedelta(hours=2, minutes=40),
            started=began,
            directions=[
                (now - timedelta(seconds=ago), now - timedelta(seconds=ago - (r or 0)))
                for ago, _, _, r in LIVE_DIRECTIONS
            ],
        )
        soon = (local + timedelta(hours=2)).replace(minute=30, second=0, microsecond=0)
        tomorrow = (local + timedelta(days=1)).replace(hour=9, minute=30, second=0, microsecond=0)
        for body in (
            _new(
                "王某某信访事项 远程接访",
                "丙检控申〔2026〕7号",
                "reception",
                "county-c-reception",
                soon,
            ),
            _new(
                "李某故意伤害案 远程提讯",
                "乙检刑捕〔2026〕31号",
                "interrogation",
                "county-b-interrogation",
                tomorrow,
            ),
        ):
            await _call(director, "POST", "/api/sessions", body)
    return Sessions(live["id"], sid, recordings)


async def _ended_recordings(data: Path, sid: str, start: datetime, end: datetime) -> list[str]:
    """What the recorder bound to yesterday's session (its three cameras from the start,
    the city picture once the director published it), and the panorama's recordings
    before and after it (cut over at the start and the end)."""
    at, length = start.timestamp(), (end - start).total_seconds()
    made: list[tuple[str, float, float, str | None]] = [
        (COURT, at - 1200, 1200, None),
        (COURT, at, length, sid),
        (f"{COURT}-judge", at, length, sid),
        (f"{COURT}-defendant", at, length, sid),
        (f"{sid}-city", at + 40, length - 50, sid),
        (COURT, at + length, 1200, None),
    ]
    ids = []
    for stream, begin, seconds, session in made:
        for _ in range(3):
            directory = await make_recording(
                data,
                seconds=round(seconds),
                segment_seconds=60,
                stream=stream,
                start=begin,
                fps=1,
                session=session,
            )
            # Fed faster than real time: on a busy machine the recorder may drop the
            # tail (a live feed's backlog); such a one is made again.
            if _length(directory) >= seconds - 5:
                break
            shutil.rmtree(directory)
        ids.append(directory.name)
    return ids


def _length(directory: Path) -> float:
    made = mf.load(directory)
    if not made.segments:
        return 0.0
    start, end = made.segments[0].start, made.segments[-1].end
    return (parse_iso(end) - parse_iso(start)).total_seconds()


async def make_dispatch(url: str) -> None:
    """The command hall's screens (the main one on four stations, its wall PC linked) and
    two saved layouts."""
    async with logged_in(url, "commander") as c:
        for name, title, _, _ in SCREENS:
            await _call(
                c, "POST", "/api/dispatch/screens", {"name": name, "title": title, "kind": "wall"}
            )
        layout = "/api/dispatch/screens/hall/layout"
        await _call(c, "PUT", layout, {"grid": 1, "sources": [COURT]})
        await _call(c, "POST", "/api/dispatch/layouts", {"name": "trial"})
        for name, _, grid, sources in SCREENS:
            body = {"grid": grid, "sources": sources}
            await _call(c, "PUT", f"/api/dispatch/screens/{name}/layout", body)
        await _call(c, "POST", "/api/dispatch/layouts", {"name": "routine"})
        await _call(c, "POST", "/api/dispatch/screens/hall/link")
