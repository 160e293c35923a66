"""The initial catalog: recordings, segments, continuity events, audit log.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None

UTC_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "recordings",
        sa.Column("id", sa.String(128), primary_key=True),
        sa.Column("stream", sa.String(64), nullable=False),
        sa.Column("station", sa.String(256), nullable=False),
        sa.Column("session", sa.String(128), nullable=True),
        sa.Column("node_id", sa.String(256), nullable=False),
        sa.Column("container", sa.String(8), nullable=False),
        sa.Column("codecs", sa.JSON(), nullable=False),
        sa.Column("started_at", UTC_TIME, nullable=False),
        sa.Column("ended_at", UTC_TIME, nullable=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("retention_until", UTC_TIME, nullable=False),
        sa.Column("legal_hold", sa.Boolean(), nullable=False),
        sa.Column("verified_state", sa.String(16), nullable=True),
        sa.Column("verified_at", UTC_TIME, nullable=True),
    )
    op.create_index("ix_recordings_stream", "recordings", ["stream"])
    op.create_index("ix_recordings_session", "recordings", ["session"])
    op.create_index("ix_recordings_started_at", "recordings", ["started_at"])
    op.create_index("ix_recordings_retention_until", "recordings", ["retention_until"])

    op.create_table(
        "segments",
        sa.Column(
            "recording_id",
            sa.String(128),
            sa.ForeignKey("recordings.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("index", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("file", sa.String(64), nullable=False),
        sa.Column("start", UTC_TIME, nullable=False),
        sa.Column("end", UTC_TIME, nullable=False),
        sa.Column("duration", sa.Float(), nullable=False),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("chain", sa.String(64), nullable=False),
        sa.Column("flags", sa.JSON(), nullable=False),
    )

    op.create_table(
        "continuity_events",
        sa.Column(
            "recording_id",
            sa.String(128),
            sa.ForeignKey("recordings.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("position", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("start", UTC_TIME, nullable=False),
        sa.Column("end", UTC_TIME, nullable=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
    )

    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("at", UTC_TIME, nullable=False),
        sa.Column("actor", sa.String(256), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("target", sa.String(256), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False, unique=True),
    )
    op.create_index("ix_audit_log_at", "audit_log", ["at"])
    op.create_index("ix_audit_log_actor", "audit_log", ["actor"])
    op.create_index("ix_audit_log_action", "audit_log", ["action"])
    op.create_index("ix_audit_log_target", "audit_log", ["target"])


def downgrade() -> None:
    op.drop_table("audit_log")
    op.drop_table("continuity_events")
    op.drop_table("segments")
    op.drop_table("recordings")
