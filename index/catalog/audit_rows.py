"""ORM rows of the audit chain (issue #17): the chain head (one row, the lock every append
takes) and the signed checkpoints. Kept beside index/catalog/rows.py (same `Base`) so the
catalog's metadata and migration 0013 hold them; index/catalog/audit.py imports this module."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from index.catalog.rows import Base, RowId, UtcDateTime

CHAIN_HEAD_ID = 1


class AuditChainHeadRow(Base):
    """The newest entry of the chain. Every append updates this one row first, so appends from
    any number of processes queue on its write lock and never fork the chain."""

    __tablename__ = "audit_chain_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(RowId)  # 0: no entry yet
    entry_hash: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class AuditCheckpointRow(Base):
    """An Ed25519 signature over the chain up to entry `seq` (append-only, like the log)."""

    __tablename__ = "audit_checkpoints"

    id: Mapped[int] = mapped_column(RowId, primary_key=True, autoincrement=True)
    seq: Mapped[int] = mapped_column(RowId, unique=True)
    entry_hash: Mapped[str] = mapped_column(String(64))
    signed_at: Mapped[datetime] = mapped_column(UtcDateTime)
    signature: Mapped[str] = mapped_column(Text)  # base64
    key_fingerprint: Mapped[str] = mapped_column(String(64))
