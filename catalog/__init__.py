"""The catalog database: one engine (SQLite embedded, PostgreSQL with DATABASE_URL), its
Alembic migrations, every table, the hash-chained audit log and the queries.

Recordings' files are the source of truth (recorder/); the catalog indexes them and can be
rebuilt from the manifests. Accounts, logins and the station registry live here too, so
signaling and the console share one database and one migration history.

Public API: this module, and `catalog.audit` (the chain: append, check, as_dict).
Everything blocks: async callers use asyncio.to_thread.
"""

from . import audit
from .accounts_schema import LoginSessionRow, PresenceRow, StationRow, StationStreamRow, UserRow
from .archive import CONTENT_TYPES, Archive
from .copy_schema import EvidenceCopyRow
from .db import display_url, writer
from .dispatch_schema import LayoutRow, QuickPhraseRow, ScreenRow
from .evidence_schema import (
    InterruptionRow,
    KioskLinkRow,
    RecordVersionRow,
    SealRow,
    TicketRow,
)
from .hearings_schema import (
    CommentRow,
    DirectionRow,
    HearingParticipantRow,
    HearingRow,
    HearingStreamRow,
)
from .recordings import Catalog, LostRecording, RebuildReport, SegmentFile, UnknownRecording
from .retention import Decision, run_retention
from .schema import AuditRow, Base, UTCDateTime, iso, parse_iso
from .settings import CatalogSettings
from .timeline import Gap, Span, StreamCoverage, coverage, merge_spans

__all__ = [
    "CONTENT_TYPES",
    "Archive",
    "AuditRow",
    "Base",
    "Catalog",
    "CatalogSettings",
    "CommentRow",
    "Decision",
    "DirectionRow",
    "EvidenceCopyRow",
    "Gap",
    "HearingParticipantRow",
    "HearingRow",
    "HearingStreamRow",
    "InterruptionRow",
    "KioskLinkRow",
    "LayoutRow",
    "LoginSessionRow",
    "LostRecording",
    "PresenceRow",
    "QuickPhraseRow",
    "RebuildReport",
    "RecordVersionRow",
    "ScreenRow",
    "SealRow",
    "SegmentFile",
    "Span",
    "StationRow",
    "StationStreamRow",
    "StreamCoverage",
    "TicketRow",
    "UTCDateTime",
    "UnknownRecording",
    "UserRow",
    "audit",
    "coverage",
    "display_url",
    "iso",
    "merge_spans",
    "parse_iso",
    "run_retention",
    "writer",
]
