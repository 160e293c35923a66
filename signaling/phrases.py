"""A director's quick phrases: ready-made directions sent with one click.

Each account keeps its own ordered list (catalog.QuickPhraseRow); the console reads it
and replaces it whole (GET/PUT /api/me/phrases, see hearings_api.py). The same bounds as
a direction's text apply to each phrase. Blocking: async code calls these through
asyncio.to_thread.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, delete, select
from sqlalchemy.orm import sessionmaker

from catalog import QuickPhraseRow, writer

from .hearing import MAX_DIRECTION, HearingError, text_field

MAX_PHRASES = 30
# The column's width (catalog.QuickPhraseRow.text), at most a direction's.
MAX_PHRASE = min(200, MAX_DIRECTION)


def phrase_list(value: Any) -> list[str]:
    """The phrases of a request body, checked: a list of non-empty texts, no repeats."""
    if not isinstance(value, list):
        raise HearingError(400, "phrases: a list of texts")
    if len(value) > MAX_PHRASES:
        raise HearingError(413, f"phrases: at most {MAX_PHRASES}")
    texts = [text_field("phrase", item, MAX_PHRASE) for item in value]
    if len(set(texts)) != len(texts):
        raise HearingError(400, "phrases: each at most once")
    return texts


class QuickPhrases:
    def __init__(self, engine: Engine) -> None:
        self._read = sessionmaker(engine, expire_on_commit=False)
        self._write = sessionmaker(writer(engine), expire_on_commit=False)

    def of(self, user: str) -> list[str]:
        """`user`'s phrases in their order."""
        with self._read() as session:
            return list(
                session.scalars(
                    select(QuickPhraseRow.text)
                    .where(QuickPhraseRow.user_name == user)
                    .order_by(QuickPhraseRow.position)
                )
            )

    def replace(self, user: str, phrases: Any) -> list[str]:
        """`user`'s phrases become `phrases` (checked by phrase_list), in that order."""
        texts = phrase_list(phrases)
        with self._write.begin() as session:
            session.execute(delete(QuickPhraseRow).where(QuickPhraseRow.user_name == user))
            for position, text in enumerate(texts):
                session.add(QuickPhraseRow(user_name=user, position=position, text=text))
        return texts
