"""Video dispatch (screens and saved layouts) and directors' quick phrases.

Models: catalog/dispatch_schema.py.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None

UTC_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "dispatch_screens",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("title", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column(
            "station_id",
            sa.String(64),
            sa.ForeignKey("stations.id", ondelete="SET NULL"),
            nullable=True,
        ),
        sa.Column("layout", sa.JSON(), nullable=False),
        sa.Column("updated_at", UTC_TIME, nullable=False),
        sa.Column("updated_by", sa.String(64), nullable=False),
        sa.Column("link_id", sa.String(64), nullable=True),
    )
    op.create_index("ix_dispatch_screens_station_id", "dispatch_screens", ["station_id"])
    op.create_table(
        "dispatch_layouts",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("layout", sa.JSON(), nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("created_at", UTC_TIME, nullable=False),
    )
    op.create_table(
        "quick_phrases",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("user_name", sa.String(64), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("text", sa.String(200), nullable=False),
    )
    op.create_index("ix_quick_phrases_user_name", "quick_phrases", ["user_name"])


def downgrade() -> None:
    op.drop_table("quick_phrases")
    op.drop_table("dispatch_layouts")
    op.drop_table("dispatch_screens")
