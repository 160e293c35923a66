"""Interrogation evidence (interruptions, record versions, seals) and the petition
reception queue.

Models: catalog/evidence_schema.py.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
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
    op.create_table(
        "hearing_interruptions",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        _hearing_fk(),
        sa.Column("stream_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("started_at", UTC_TIME, nullable=False),
        sa.Column("ended_at", UTC_TIME, nullable=True),
    )
    op.create_index("ix_hearing_interruptions_hearing_id", "hearing_interruptions", ["hearing_id"])
    op.create_table(
        "hearing_record_versions",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        _hearing_fk(),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("saved_by", sa.String(64), nullable=False),
        sa.Column("saved_at", UTC_TIME, nullable=False),
        sa.UniqueConstraint("hearing_id", "version"),
    )
    op.create_index(
        "ix_hearing_record_versions_hearing_id", "hearing_record_versions", ["hearing_id"]
    )
    op.create_table(
        "hearing_seals",
        sa.Column(
            "hearing_id",
            sa.String(32),
            sa.ForeignKey("hearings.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("sealed_at", UTC_TIME, nullable=False),
        sa.Column("sealed_by", sa.String(64), nullable=False),
        sa.Column("record", sa.Text(), nullable=False),
        sa.Column("signature", sa.String(128), nullable=False),
        sa.Column("public_key", sa.Text(), nullable=False),
    )
    op.create_table(
        "reception_tickets",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("station_id", sa.String(64), nullable=False),
        sa.Column("county", sa.String(128), nullable=False),
        sa.Column("petitioner", sa.String(64), nullable=False),
        sa.Column("contact", sa.String(64), nullable=False),
        sa.Column("subject", sa.String(200), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.Column("accepted_by", sa.String(64), nullable=True),
        sa.Column("accepted_at", UTC_TIME, nullable=True),
        sa.Column("hearing_id", sa.String(32), nullable=True),
        sa.Column("waited_seconds", sa.Integer(), nullable=True),
        sa.Column("abandoned_at", UTC_TIME, nullable=True),
        sa.Column("matter", sa.String(200), nullable=True),
        sa.Column("reply", sa.Text(), nullable=True),
        sa.Column("follow_up", sa.Text(), nullable=True),
        sa.Column("department", sa.String(128), nullable=True),
        sa.Column("closed_by", sa.String(64), nullable=True),
        sa.Column("closed_at", UTC_TIME, nullable=True),
    )
    for column in ("station_id", "county", "state"):
        op.create_index(f"ix_reception_tickets_{column}", "reception_tickets", [column])


def downgrade() -> None:
    op.drop_table("reception_tickets")
    op.drop_table("hearing_seals")
    op.drop_table("hearing_record_versions")
    op.drop_table("hearing_interruptions")
