"""Hearing sessions: the sessions, their participants and streams, directions with read
receipts, evaluation comments; and a county on console accounts (county-scoped staff).

Models: catalog/hearings_schema.py, catalog/accounts_schema.py.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None

UTC_TIME = sa.DateTime(timezone=True)


def _hearing_fk() -> sa.Column[str]:
    return sa.Column(
        "hearing_id",
        sa.String(32),
        sa.ForeignKey("hearings.id", ondelete="CASCADE"),
        nullable=False,
    )


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("county", sa.String(128), nullable=True))
    op.create_index("ix_users_county", "users", ["county"])

    op.create_table(
        "hearings",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("case_no", sa.String(64), nullable=False),
        sa.Column("station_id", sa.String(64), nullable=False),
        sa.Column("county", sa.String(128), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.Column("scheduled_for", UTC_TIME, nullable=True),
        sa.Column("started_at", UTC_TIME, nullable=True),
        sa.Column("ended_at", UTC_TIME, nullable=True),
        sa.Column("evaluation", sa.Text(), nullable=True),
        sa.Column("evaluated_at", UTC_TIME, nullable=True),
    )
    for column in ("kind", "case_no", "station_id", "county", "state", "scheduled_for"):
        op.create_index(f"ix_hearings_{column}", "hearings", [column])

    op.create_table(
        "hearing_participants",
        _hearing_fk(),
        sa.Column("user_name", sa.String(64), nullable=False),
        sa.Column("part", sa.String(16), nullable=False),
        sa.PrimaryKeyConstraint("hearing_id", "user_name"),
    )
    op.create_index("ix_hearing_participants_user_name", "hearing_participants", ["user_name"])

    op.create_table(
        "hearing_streams",
        _hearing_fk(),
        sa.Column("stream_id", sa.String(64), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("hearing_id", "stream_id"),
    )
    op.create_index("ix_hearing_streams_stream_id", "hearing_streams", ["stream_id"])

    op.create_table(
        "hearing_directions",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        _hearing_fk(),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("urgent", sa.Boolean(), nullable=False),
        sa.Column("sent_by", sa.String(64), nullable=False),
        sa.Column("sent_at", UTC_TIME, nullable=False),
        sa.Column("read_by", sa.String(64), nullable=True),
        sa.Column("read_at", UTC_TIME, nullable=True),
    )
    op.create_index("ix_hearing_directions_hearing_id", "hearing_directions", ["hearing_id"])

    op.create_table(
        "hearing_comments",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        _hearing_fk(),
        sa.Column("author", sa.String(64), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("media_time", sa.Float(), nullable=False),
        sa.Column("posted_at", UTC_TIME, nullable=False),
    )
    op.create_index("ix_hearing_comments_hearing_id", "hearing_comments", ["hearing_id"])


def downgrade() -> None:
    op.drop_table("hearing_comments")
    op.drop_table("hearing_directions")
    op.drop_table("hearing_streams")
    op.drop_table("hearing_participants")
    op.drop_table("hearings")
    op.drop_index("ix_users_county", "users")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("county")
