"""The rows a retention batch deletes on one camera (issue #17): the oldest rows past their
tier that no legal hold keeps. Candidates are read oldest first a page at a time, and held rows
are paged past (they are reported, and do not count), so a batch of `limit` holds up to `limit`
deletable rows however many held rows come before them: a hold on a camera's oldest material
does not stop retention for the rest of that camera.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row, Select, and_, or_
from sqlalchemy.orm import InstrumentedAttribute, Session

PAGE_ROWS = 500  # candidates read per statement at least


@dataclass(frozen=True)
class Candidates:
    """The free rows (oldest first, at most the limit) and the held rows among them or before
    them, each with the held cases keeping it."""

    free: tuple[Row[Any], ...]
    held: tuple[tuple[Row[Any], tuple[str, ...]], ...]


def oldest_free(
    session: Session,
    statement: Select[*tuple[Any, ...]],
    order: tuple[InstrumentedAttribute[datetime], InstrumentedAttribute[int]],
    limit: int | None,
    holds: Callable[[Row[Any]], Collection[str]],
) -> Candidates:
    """Run `statement` (its rows past their tier on one camera) ordered by `order` (a time, then
    the id), a page at a time after the last row read, until `limit` rows are found that
    `holds` names no held case for (None: every row)."""
    at, row_id = order
    size = max(limit or 0, PAGE_ROWS)
    page = statement.add_columns(at.label("page_at"), row_id.label("page_id"))
    page = page.order_by(at, row_id).limit(size)
    free: list[Row[Any]] = []
    held: list[tuple[Row[Any], tuple[str, ...]]] = []
    after: tuple[datetime, int] | None = None
    while True:
        rows = session.execute(
            page if after is None
            else page.where(or_(at > after[0], and_(at == after[0], row_id > after[1])))
        ).all()  # fmt: skip
        for row in rows:
            if limit is not None and len(free) == limit:
                return Candidates(tuple(free), tuple(held))
            cases = tuple(sorted(set(holds(row))))
            if cases:
                held.append((row, cases))
            else:
                free.append(row)
        if len(rows) < size:
            return Candidates(tuple(free), tuple(held))
        after = (rows[-1].page_at, int(rows[-1].page_id))
