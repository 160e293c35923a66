"""Video dispatch and a director's quick phrases (SQLAlchemy 2 typed ORM).

A screen is a named output a commander routes live sources to: a display wall of the
command hall (`/screen/{name}` on the wall PC) or a county station's screen. A layout
is a saved arrangement recalled with one click. Quick phrases are a director's own
ready-made directions. Schema: Alembic revision 0004; these classes must match it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from .schema import Base


class ScreenRow(Base):
    __tablename__ = "dispatch_screens"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    title: Mapped[str] = mapped_column(String(128))
    # wall (a command-hall display) | station (a county station's screen)
    kind: Mapped[str] = mapped_column(String(16))
    station_id: Mapped[str | None] = mapped_column(
        ForeignKey("stations.id", ondelete="SET NULL"), index=True
    )
    # {"grid": 1 | 4 | 9 | 16, "sources": [stream ids, in tile order]}
    layout: Mapped[dict[str, Any]]
    updated_at: Mapped[datetime]
    updated_by: Mapped[str] = mapped_column(String(64))
    # The token id (jti) of the one valid link for the wall PC (`/screen/{name}?token=`):
    # a new link replaces it, so the old one stops working; None: no link.
    link_id: Mapped[str | None] = mapped_column(String(64))


class LayoutRow(Base):
    __tablename__ = "dispatch_layouts"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    # {"screens": {screen name: {"grid": n, "sources": [...]}}}
    layout: Mapped[dict[str, Any]]
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]


class QuickPhraseRow(Base):
    __tablename__ = "quick_phrases"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_name: Mapped[str] = mapped_column(String(64), index=True)
    position: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(String(200))
