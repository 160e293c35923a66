"""The station registry: which county site a stream comes from, so the console shows
names, not stream ids; and station presence (on air or not, last seen).

A station has an id (a slug like a stream id), a county, a name, a kind, and its stream
ids (a stream belongs to at most one station). Presence is derived from the streams:
a station is online while one of its streams is published; `sync_presence` is called by
the node that sees them (signaling/presence.py) on every change and every heartbeat,
so a node that died stops vouching for its stations after STALE_AFTER.

Blocking: async code calls these through asyncio.to_thread. Registry changes are
written to the audit log in the same transaction.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, cast

from sqlalchemy import Engine, delete, select
from sqlalchemy.orm import Session, sessionmaker

from catalog import PresenceRow, StationRow, StationStreamRow, iso, writer
from catalog import audit as auditlog

from .errors import Refused
from .tokens import valid_stream_id

Kind = Literal["courtroom", "interrogation_room", "reception_room", "detention_centre"]
KINDS: tuple[Kind, ...] = ("courtroom", "interrogation_room", "reception_room", "detention_centre")
MAX_STREAMS = 16
# A presence row older than this is not believed (its node stopped sending heartbeats).
STALE_AFTER = timedelta(seconds=90)


class StationError(Refused):
    """A registry change refused: a key of errors.REFUSALS and its values (str(): the
    English text; the console translates the key)."""


@dataclass(frozen=True)
class Station:
    id: str
    county: str
    name: str
    kind: Kind
    streams: tuple[str, ...]
    created_at: datetime
    online: bool = False
    last_seen: datetime | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "county": self.county,
            "name": self.name,
            "kind": self.kind,
            "streams": list(self.streams),
            "created_at": iso(self.created_at),
            "online": self.online,
            "last_seen": iso(self.last_seen),
        }


def _text(field: str, value: str) -> str:
    value = value.strip()
    if not value or len(value) > 128 or any(ord(c) < 32 for c in value):
        raise StationError(f"station.{field}")
    return value


def _validate(
    station_id: str, county: str, name: str, kind: str, streams: Iterable[str]
) -> tuple[str, str, Kind, list[str]]:
    if not valid_stream_id(station_id):
        raise StationError("station.id")
    if kind not in KINDS:
        raise StationError("station.kind", kinds=", ".join(KINDS))
    ids = [s.strip() for s in streams if s.strip()]
    if not ids:
        raise StationError("station.no_streams")
    if len(ids) > MAX_STREAMS:
        raise StationError("station.too_many_streams", max=MAX_STREAMS)
    for s in ids:
        if not valid_stream_id(s):
            raise StationError("station.stream_id", stream=s)
    if len(set(ids)) != len(ids):
        raise StationError("station.stream_twice")
    return _text("county", county), _text("name", name), kind, ids


class Stations:
    def __init__(self, engine: Engine) -> None:
        self._read = sessionmaker(engine, expire_on_commit=False)
        self._write = sessionmaker(writer(engine), expire_on_commit=False)

    # ------------------------------------------------------------ registry

    def add(
        self,
        station_id: str,
        county: str,
        name: str,
        kind: str,
        streams: Iterable[str],
        actor: str = "system",
    ) -> Station:
        county, name, checked, ids = _validate(station_id, county, name, kind, streams)
        with self._write.begin() as session:
            if session.get(StationRow, station_id) is not None:
                raise StationError("station.exists", station=station_id)
            session.add(
                StationRow(
                    id=station_id,
                    county=county,
                    name=name,
                    kind=checked,
                    created_at=datetime.now(UTC),
                )
            )
            session.flush()
            self._set_streams(session, station_id, ids)
            detail = {"county": county, "name": name, "kind": checked, "streams": ids}
            auditlog.append(session, actor, "station.add", f"station:{station_id}", detail)
        found = self.get(station_id)
        assert found is not None
        return found

    def update(
        self,
        station_id: str,
        county: str,
        name: str,
        kind: str,
        streams: Iterable[str],
        actor: str = "system",
    ) -> Station:
        county, name, checked, ids = _validate(station_id, county, name, kind, streams)
        with self._write.begin() as session:
            row = session.get(StationRow, station_id)
            if row is None:
                raise StationError("station.unknown", station=station_id)
            row.county, row.name, row.kind = county, name, checked
            session.execute(
                delete(StationStreamRow).where(StationStreamRow.station_id == station_id)
            )
            session.flush()
            self._set_streams(session, station_id, ids)
            detail = {"county": county, "name": name, "kind": checked, "streams": ids}
            auditlog.append(session, actor, "station.update", f"station:{station_id}", detail)
        found = self.get(station_id)
        assert found is not None
        return found

    @staticmethod
    def _set_streams(session: Session, station_id: str, ids: list[str]) -> None:
        taken = session.execute(
            select(StationStreamRow.stream_id, StationStreamRow.station_id).where(
                StationStreamRow.stream_id.in_(ids)
            )
        ).all()
        if taken:
            stream_id, owner = taken[0]
            raise StationError("station.stream_taken", stream=stream_id, owner=owner)
        for position, stream_id in enumerate(ids):
            session.add(
                StationStreamRow(stream_id=stream_id, station_id=station_id, position=position)
            )

    def delete(self, station_id: str, actor: str = "system") -> bool:
        with self._write.begin() as session:
            row = session.get(StationRow, station_id)
            if row is None:
                return False
            session.execute(
                delete(StationStreamRow).where(StationStreamRow.station_id == station_id)
            )
            session.execute(delete(PresenceRow).where(PresenceRow.station_id == station_id))
            session.delete(row)
            detail = {"county": row.county, "name": row.name}
            auditlog.append(session, actor, "station.delete", f"station:{station_id}", detail)
        return True

    # ------------------------------------------------------------ reading

    def all(self, now: datetime | None = None) -> list[Station]:
        """Every station, by county then name, with its presence."""
        return self._load(None, now)

    def get(self, station_id: str) -> Station | None:
        found = self._load([station_id], None)
        return found[0] if found else None

    def by_stream(self) -> dict[str, Station]:
        return {s: station for station in self.all() for s in station.streams}

    def _load(self, ids: list[str] | None, now: datetime | None) -> list[Station]:
        now = now or datetime.now(UTC)
        with self._read() as session:
            query = select(StationRow).order_by(StationRow.county, StationRow.name)
            links = select(StationStreamRow).order_by(StationStreamRow.position)
            presence = select(PresenceRow)
            if ids is not None:
                query = query.where(StationRow.id.in_(ids))
                links = links.where(StationStreamRow.station_id.in_(ids))
                presence = presence.where(PresenceRow.station_id.in_(ids))
            rows = session.scalars(query).all()
            streams: dict[str, list[str]] = {}
            for link in session.scalars(links):
                streams.setdefault(link.station_id, []).append(link.stream_id)
            seen = {p.station_id: p for p in session.scalars(presence)}
        out = []
        for row in rows:
            p = seen.get(row.id)
            online = bool(p and p.online and p.last_seen and now - p.last_seen <= STALE_AFTER)
            out.append(
                Station(
                    row.id,
                    row.county,
                    row.name,
                    cast(Kind, row.kind),
                    tuple(streams.get(row.id, ())),
                    row.created_at,
                    online,
                    p.last_seen if p else None,
                )
            )
        return out

    # ------------------------------------------------------------ presence

    def sync_presence(self, live: set[str], node_id: str, now: datetime) -> list[Station]:
        """This node sees the streams in `live` published: stations with one of them are
        online (last seen now); stations this node had online and no longer sees go
        offline. Returns the stations whose presence changed."""
        changed: list[str] = []
        with self._write.begin() as session:
            links = session.execute(select(StationStreamRow.stream_id, StationStreamRow.station_id))
            on_air = {station for stream, station in links if stream in live}
            rows = {p.station_id: p for p in session.scalars(select(PresenceRow))}
            for station_id in on_air:
                p = rows.get(station_id)
                if p is None:
                    p = PresenceRow(station_id=station_id, online=False)
                    session.add(p)
                fresh = p.last_seen is not None and now - p.last_seen <= STALE_AFTER
                if not (p.online and fresh):
                    changed.append(station_id)
                p.online, p.last_seen, p.node_id = True, now, node_id
            for station_id, p in rows.items():
                if station_id not in on_air and p.online and p.node_id == node_id:
                    p.online, p.last_seen = False, now
                    changed.append(station_id)
        return self._load(changed, now) if changed else []
