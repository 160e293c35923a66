"""Video dispatch (集中调度): screens, what each shows, and saved layouts; the store.

A *screen* is a named output a commander routes live sources to: a display wall of the
command hall (kind `wall`, shown by `/screen/{name}` on the wall PC) or a county
station's screen (kind `station`, bound to a station, shown by that station's display
page). Its *layout* is a grid (1, 4, 9 or 16 tiles) and the stream ids shown, in tile
order. A *saved layout* is a named snapshot of several screens' layouts, recalled with
one click.

Everything is stored before anyone is told (the API publishes `dispatch.*` on the bus
after the transaction commits), and every change goes into the hash-chained audit log in
the same transaction. Who may call what is the API's business (policy.py); the rules here
are about the data. Blocking: async code calls these through asyncio.to_thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, cast

from sqlalchemy import Engine, delete, func, select
from sqlalchemy.orm import Session, sessionmaker

from catalog import HearingRow, LayoutRow, ScreenRow, StationRow, StationStreamRow, iso, writer
from catalog import audit as auditlog

from .errors import Refusal
from .tokens import valid_stream_id

ScreenKind = Literal["wall", "station"]
SCREEN_KINDS: tuple[ScreenKind, ...] = ("wall", "station")
GRIDS = (1, 4, 9, 16)
DEFAULT_GRID = 4
MAX_TITLE = 128
MAX_SCREENS = 64
MAX_LAYOUTS = 100


class DispatchError(Refusal):
    """A dispatch request refused: `status` is the HTTP answer, `reason` says why."""


@dataclass(frozen=True)
class Layout:
    grid: int
    sources: tuple[str, ...]

    def as_json(self) -> dict[str, Any]:
        return {"grid": self.grid, "sources": list(self.sources)}

    @staticmethod
    def parse(value: Any, where: str = "layout", private: tuple[str, ...] = ()) -> Layout:
        """A layout from JSON ({grid, sources}); DispatchError(400) says what is wrong.
        Sources ending in one of `private` (a session's private channels) are refused."""
        if not isinstance(value, dict):
            raise DispatchError(400, f"{where}: an object {{grid, sources}}")
        grid = value.get("grid")
        if isinstance(grid, bool) or grid not in GRIDS:
            raise DispatchError(400, f"{where}.grid: one of {', '.join(map(str, GRIDS))}")
        sources = value.get("sources", [])
        if not isinstance(sources, list) or not all(isinstance(s, str) for s in sources):
            raise DispatchError(400, f"{where}.sources: a list of stream ids")
        if len(sources) > grid:
            raise DispatchError(400, f"{where}.sources: at most {grid} for a grid of {grid}")
        for s in sources:
            if not valid_stream_id(s):
                raise DispatchError(
                    400, f"{where}.sources: {s[:64]!r} is not a stream id ([a-z0-9][a-z0-9_-]*)"
                )
            if private and s.endswith(private):
                raise DispatchError(
                    400, f"{where}.sources: {s} is a session's private channel, never dispatched"
                )
        if len(set(sources)) != len(sources):
            raise DispatchError(400, f"{where}.sources: a stream is listed twice")
        return Layout(grid, tuple(sources))

    @staticmethod
    def stored(value: dict[str, Any]) -> Layout:
        grid = value.get("grid")
        return Layout(grid if grid in GRIDS else DEFAULT_GRID, tuple(value.get("sources", ())))


@dataclass(frozen=True)
class Screen:
    name: str
    title: str
    kind: ScreenKind
    station: str | None
    layout: Layout
    updated_at: datetime
    updated_by: str
    link_id: str | None  # the jti of its wall PC link (never given out)

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "title": self.title,
            "kind": self.kind,
            "station": self.station,
            **self.layout.as_json(),
            "updated_at": iso(self.updated_at),
            "updated_by": self.updated_by,
            "link": self.link_id is not None,
        }

    @staticmethod
    def of(row: ScreenRow) -> Screen:
        return Screen(
            row.name,
            row.title,
            cast(ScreenKind, row.kind),
            row.station_id,
            Layout.stored(row.layout),
            row.updated_at,
            row.updated_by,
            row.link_id,
        )


@dataclass(frozen=True)
class SavedLayout:
    name: str
    screens: dict[str, Layout]
    created_by: str
    created_at: datetime

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "screens": {name: layout.as_json() for name, layout in self.screens.items()},
            "created_by": self.created_by,
            "created_at": iso(self.created_at),
        }

    @staticmethod
    def of(row: LayoutRow) -> SavedLayout:
        screens = row.layout.get("screens", {})
        return SavedLayout(
            row.name,
            {name: Layout.stored(value) for name, value in screens.items()},
            row.created_by,
            row.created_at,
        )


def _name(field: str, value: Any) -> str:
    if not isinstance(value, str) or not valid_stream_id(value):
        raise DispatchError(400, f"{field}: [a-z0-9][a-z0-9_-]{{0,63}}")
    return value


def _title(value: Any) -> str:
    if not isinstance(value, str):
        raise DispatchError(400, "title: text expected")
    value = value.strip()
    if not value or len(value) > MAX_TITLE or any(ord(c) < 32 for c in value):
        raise DispatchError(400, f"title: 1 to {MAX_TITLE} printable characters")
    return value


def _screen_target(name: str) -> str:
    return f"screen:{name}"


def _layout_target(name: str) -> str:
    return f"layout:{name}"


class Dispatch:
    def __init__(self, engine: Engine) -> None:
        self._read = sessionmaker(engine, expire_on_commit=False)
        self._write = sessionmaker(writer(engine), expire_on_commit=False)

    # ------------------------------------------------------------ screens

    def screens(self) -> list[Screen]:
        """Every screen: walls first, then station screens, each by name."""
        with self._read() as session:
            rows = session.scalars(
                select(ScreenRow).order_by(ScreenRow.kind.desc(), ScreenRow.name)
            )
            return [Screen.of(r) for r in rows]

    def screen(self, name: str) -> Screen | None:
        with self._read() as session:
            row = session.get(ScreenRow, name)
            return Screen.of(row) if row is not None else None

    def add_screen(self, name: Any, title: Any, kind: Any, station: Any, actor: str) -> Screen:
        name = _name("name", name)
        title = _title(title)
        if kind not in SCREEN_KINDS:
            raise DispatchError(400, f"kind: one of {', '.join(SCREEN_KINDS)}")
        with self._write.begin() as session:
            if session.get(ScreenRow, name) is not None:
                raise DispatchError(409, f"screen {name!r} exists already")
            if (session.scalar(select(func.count()).select_from(ScreenRow)) or 0) >= MAX_SCREENS:
                raise DispatchError(413, f"at most {MAX_SCREENS} screens")
            station_id = _station(session, kind, station)
            row = ScreenRow(
                name=name,
                title=title,
                kind=kind,
                station_id=station_id,
                layout=Layout(DEFAULT_GRID, ()).as_json(),
                updated_at=datetime.now(UTC),
                updated_by=actor,
                link_id=None,
            )
            session.add(row)
            detail = {"title": title, "kind": kind, "station": station_id}
            auditlog.append(session, actor, "dispatch.screen.add", _screen_target(name), detail)
            return Screen.of(row)

    def update_screen(self, name: str, title: Any, station: Any, actor: str) -> Screen:
        """A new title (and, for a station screen, station); the kind stays."""
        title = _title(title)
        with self._write.begin() as session:
            row = _screen_for_update(session, name)
            row.title = title
            row.station_id = _station(session, row.kind, station)
            row.updated_at, row.updated_by = datetime.now(UTC), actor
            detail = {"title": title, "station": row.station_id}
            auditlog.append(session, actor, "dispatch.screen.update", _screen_target(name), detail)
            return Screen.of(row)

    def delete_screen(self, name: str, actor: str) -> bool:
        with self._write.begin() as session:
            row = session.get(ScreenRow, name)
            if row is None:
                return False
            detail = {"title": row.title, "kind": row.kind, **Layout.stored(row.layout).as_json()}
            session.delete(row)
            auditlog.append(session, actor, "dispatch.screen.delete", _screen_target(name), detail)
        return True

    def set_layout(self, name: str, layout: Layout, actor: str) -> Screen:
        """What the screen shows now (audited with what it showed before)."""
        with self._write.begin() as session:
            row = _screen_for_update(session, name)
            before = Layout.stored(row.layout)
            row.layout = layout.as_json()
            row.updated_at, row.updated_by = datetime.now(UTC), actor
            detail = {**layout.as_json(), "before": before.as_json()}
            auditlog.append(session, actor, "dispatch.screen.set", _screen_target(name), detail)
            return Screen.of(row)

    def set_link(self, name: str, link_id: str | None, actor: str, ttl: int = 0) -> Screen:
        """The one valid wall PC link of the screen (None: revoke it); any older link
        stops working at once (routing checks the token's id against this)."""
        with self._write.begin() as session:
            row = _screen_for_update(session, name)
            row.link_id = link_id
            action = "dispatch.screen.link" if link_id else "dispatch.screen.unlink"
            detail = {"link": link_id, "ttl": ttl} if link_id else {}
            auditlog.append(session, actor, action, _screen_target(name), detail)
            return Screen.of(row)

    # ------------------------------------------------------------ saved layouts

    def layouts(self) -> list[SavedLayout]:
        with self._read() as session:
            return [
                SavedLayout.of(r)
                for r in session.scalars(select(LayoutRow).order_by(LayoutRow.name))
            ]

    def save_layout(self, name: Any, screens: Any, actor: str) -> SavedLayout:
        """What the named screens (every screen when None) show now, under `name`;
        an existing layout of that name is replaced."""
        name = _name("name", name)
        if screens is not None and (
            not isinstance(screens, list) or not all(isinstance(s, str) for s in screens)
        ):
            raise DispatchError(400, "screens: a list of screen names")
        now = datetime.now(UTC)
        with self._write.begin() as session:
            rows = {r.name: r for r in session.scalars(select(ScreenRow))}
            wanted = list(rows) if screens is None else list(dict.fromkeys(screens))
            unknown = [s for s in wanted if s not in rows]
            if unknown:
                raise DispatchError(400, f"screens: no screen {', '.join(unknown)}")
            if not wanted:
                raise DispatchError(400, "screens: nothing to save (no screens)")
            snapshot = {s: Layout.stored(rows[s].layout).as_json() for s in sorted(wanted)}
            row = session.get(LayoutRow, name)
            replaced = row is not None
            if row is None:
                if (
                    session.scalar(select(func.count()).select_from(LayoutRow)) or 0
                ) >= MAX_LAYOUTS:
                    raise DispatchError(413, f"at most {MAX_LAYOUTS} saved layouts")
                row = LayoutRow(name=name, layout={}, created_by=actor, created_at=now)
                session.add(row)
            row.layout = {"screens": snapshot}
            row.created_by, row.created_at = actor, now
            detail = {"screens": snapshot, "replaced": replaced}
            auditlog.append(session, actor, "dispatch.layout.save", _layout_target(name), detail)
            return SavedLayout.of(row)

    def recall_layout(self, name: str, actor: str) -> tuple[list[Screen], list[str]]:
        """Every screen of the saved layout shows what it showed then. Returns the
        screens changed and those of the layout that no longer exist."""
        now = datetime.now(UTC)
        with self._write.begin() as session:
            saved = session.get(LayoutRow, name)
            if saved is None:
                raise DispatchError(404, f"no saved layout {name!r}")
            layout = SavedLayout.of(saved)
            changed: list[Screen] = []
            missing: list[str] = []
            for screen_name, wanted in layout.screens.items():
                row = session.get(ScreenRow, screen_name, with_for_update=True)
                if row is None:
                    missing.append(screen_name)
                    continue
                if Layout.stored(row.layout) != wanted:
                    row.layout = wanted.as_json()
                    row.updated_at, row.updated_by = now, actor
                    changed.append(Screen.of(row))
            detail = {"changed": [s.name for s in changed], "missing": missing}
            auditlog.append(session, actor, "dispatch.layout.recall", _layout_target(name), detail)
            return changed, missing

    def delete_layout(self, name: str, actor: str) -> bool:
        with self._write.begin() as session:
            row = session.get(LayoutRow, name)
            if row is None:
                return False
            detail = dict(row.layout)
            session.execute(delete(LayoutRow).where(LayoutRow.name == name))
            auditlog.append(session, actor, "dispatch.layout.delete", _layout_target(name), detail)
        return True

    # ------------------------------------------------------------ for routing

    def station_screens(self, station_id: str) -> list[Screen]:
        with self._read() as session:
            rows = session.scalars(
                select(ScreenRow)
                .where(ScreenRow.kind == "station", ScreenRow.station_id == station_id)
                .order_by(ScreenRow.name)
            )
            return [Screen.of(r) for r in rows]

    def station_of_streams(self, streams: tuple[str, ...]) -> str | None:
        """The station every one of `streams` belongs to (None: none, or several)."""
        if not streams:
            return None
        with self._read() as session:
            links = session.execute(
                select(StationStreamRow.stream_id, StationStreamRow.station_id).where(
                    StationStreamRow.stream_id.in_(list(streams))
                )
            ).all()
        owners = {station for _, station in links}
        if len(links) != len(set(streams)) or len(owners) != 1:
            return None
        return owners.pop()

    def live_sessions_at(self, station_id: str) -> list[str]:
        """The ids of the sessions live at the station now, oldest first."""
        with self._read() as session:
            return list(
                session.scalars(
                    select(HearingRow.id)
                    .where(HearingRow.station_id == station_id, HearingRow.state == "live")
                    .order_by(HearingRow.started_at)
                )
            )


def _screen_for_update(session: Session, name: str) -> ScreenRow:
    row = session.scalar(select(ScreenRow).where(ScreenRow.name == name).with_for_update())
    if row is None:
        raise DispatchError(404, f"no screen {name!r}")
    return row


def _station(session: Session, kind: str, station: Any) -> str | None:
    """A station screen's station (registered); a wall has none."""
    if kind != "station":
        if station is not None:
            raise DispatchError(400, "station: only a station screen has one")
        return None
    if not isinstance(station, str) or session.get(StationRow, station) is None:
        raise DispatchError(400, f"station: the id of a registered station, not {station!r}")
    return station
