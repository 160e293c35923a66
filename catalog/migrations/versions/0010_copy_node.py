"""Which node renders an evidence copy: in a cluster, a node starting after a crash
queues again only the renders of nodes that are gone, never one a live node is making.

Models: catalog/copy_schema.py (EvidenceCopyRow.node).

Revision ID: 0010
Revises: 0008 (0009 is another change of issue 11: merged, this one follows it)
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0008"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("evidence_copies") as batch:
        batch.add_column(sa.Column("node", sa.String(128), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("evidence_copies") as batch:
        batch.drop_column("node")
