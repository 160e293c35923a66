"""A real node with an archive worth looking at: registered stations, accounts, and real
recordings (copies of the session's template recordings, re-signed with this node's key):
two of the same period at two stations, an older one, and one whose publisher went away
and came back (a publisher-disconnect gap in its continuity log)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from aiohttp import web
from aiohttp.test_utils import TestServer

from vdispatch.node import build_app
from vdispatch.settings import load_settings

from .catalogs import copy_recording
from .console import add_station, add_user

# station id = stream id, county, name, kind
STATIONS = [
    ("county-a-court", "甲县", "人民法院 第一法庭", "courtroom"),
    ("county-b-interrogation", "乙县", "看守所 讯问室", "interrogation_room"),
    ("county-c-reception", "丙县", "人民检察院 接访室", "reception_room"),
    ("county-d-court", "丁县", "人民法院 第二法庭", "courtroom"),
]
USERS = [("auditor", "auditor"), ("commander", "commander"), ("admin", "admin")]


@dataclass
class Site:
    url: str
    app: web.Application
    data_dir: Path
    ids: dict[str, str] = field(default_factory=dict)  # name -> recording id


def stage(data: Path, template: Path, gap_template: Path | None) -> dict[str, str]:
    """The recordings on disk (blocking)."""
    ids = {
        "court": copy_recording(
            template, data, "court-1", stream="county-a-court", session="hearing-7"
        ).name,
        # The same hearing seen from the interrogation room, starting 1.3 s earlier.
        "room": copy_recording(
            template,
            data,
            "room-1",
            stream="county-b-interrogation",
            session="hearing-7",
            age=timedelta(seconds=1.3),
        ).name,
        "old": copy_recording(
            template, data, "reception-old", stream="county-c-reception", age=timedelta(days=3)
        ).name,
    }
    if gap_template is not None:
        ids["gap"] = copy_recording(gap_template, data, "court-gap", stream="county-d-court").name
    return ids


@asynccontextmanager
async def archive_site(
    data: Path, template: Path, gap_template: Path | None = None, port: int = 0
) -> AsyncIterator[Site]:
    ids = await asyncio.to_thread(stage, data, template, gap_template)
    settings = load_settings(data_dir=data, ice_addresses="127.0.0.1")
    app = build_app(settings)
    server = TestServer(app, host="127.0.0.1", port=port)
    await server.start_server()
    try:
        for station_id, county, name, kind in STATIONS:
            await add_station(app, station_id, [station_id], county, name, kind)
        for name, role in USERS:
            await add_user(app, name, role)
        yield Site(str(server.make_url("")).rstrip("/"), app, data, ids)
    finally:
        await server.close()
