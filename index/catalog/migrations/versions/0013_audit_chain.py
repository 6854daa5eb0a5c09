"""Audit hash chain (issue #17): entry hashes, the chain head and signed checkpoints.

Existing entries are chained in time order (then row id), so an upgraded catalog holds a valid
chain from its first entry; the triggers are dropped for that one rewrite and made again, now
also guarding the checkpoints (no UPDATE/DELETE) and the head row (no DELETE).

Revision ID: 0013_audit_chain
Revises: 0012_accounts
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from index.catalog.audit_chain import GENESIS_HASH, content_hash, entry_hash
from index.catalog.rows import JsonDocument, UtcDateTime
from index.catalog.values import AuditEntry

revision: str = "0013_audit_chain"
down_revision: str | None = "0012_accounts"
branch_labels: str | None = None
depends_on: str | None = None

ROW_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
HASH_COLUMNS = ("prev_hash", "content_hash", "entry_hash")


def _sqlite_refuse(table: str, operation: str) -> str:
    return (
        f"CREATE TRIGGER {table}_no_{operation.lower()} BEFORE {operation} ON {table}"
        f" BEGIN SELECT RAISE(ABORT, '{table} is append-only: {operation} refused'); END"
    )


SQLITE_TRIGGERS = (
    _sqlite_refuse("audit_log", "UPDATE"),
    _sqlite_refuse("audit_log", "DELETE"),
    _sqlite_refuse("audit_checkpoints", "UPDATE"),
    _sqlite_refuse("audit_checkpoints", "DELETE"),
    _sqlite_refuse("audit_chain_head", "DELETE"),
)
SQLITE_OLD_TRIGGERS = ("audit_log_no_update", "audit_log_no_delete")

POSTGRES_REFUSE = """CREATE OR REPLACE FUNCTION audit_log_refuse_change() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
            USING ERRCODE = 'insufficient_privilege';
    END
    $$"""
POSTGRES_TRIGGERS = (
    """CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_refuse_change()""",
    """CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_refuse_change()""",
    """CREATE TRIGGER audit_checkpoints_append_only BEFORE UPDATE OR DELETE ON audit_checkpoints
    FOR EACH ROW EXECUTE FUNCTION audit_log_refuse_change()""",
    """CREATE TRIGGER audit_checkpoints_no_truncate BEFORE TRUNCATE ON audit_checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_refuse_change()""",
    """CREATE TRIGGER audit_chain_head_no_delete BEFORE DELETE ON audit_chain_head
    FOR EACH ROW EXECUTE FUNCTION audit_log_refuse_change()""",
)

AUDIT_LOG = sa.table(
    "audit_log",
    sa.column("id", ROW_ID),
    sa.column("at", UtcDateTime()),
    sa.column("principal", sa.String()),
    sa.column("role", sa.String()),
    sa.column("action", sa.String()),
    sa.column("query_type", sa.String()),
    sa.column("case_id", sa.String()),
    sa.column("purpose", sa.Text()),
    sa.column("filters", JsonDocument),
    sa.column("image_sha256", sa.String()),
    sa.column("hit_count", sa.Integer()),
    sa.column("target", sa.String()),
    sa.column("seq", ROW_ID),
    *(sa.column(name, sa.String()) for name in HASH_COLUMNS),
)
CHAIN_HEAD = sa.table(
    "audit_chain_head",
    sa.column("id", sa.Integer()),
    sa.column("seq", ROW_ID),
    sa.column("entry_hash", sa.String()),
    sa.column("at", UtcDateTime()),
)


def _drop_old_triggers(dialect: str) -> None:
    if dialect == "sqlite":
        for name in SQLITE_OLD_TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    else:
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_truncate ON audit_log")
        op.execute("DROP TRIGGER IF EXISTS audit_log_append_only ON audit_log")


def _chain_existing_rows() -> tuple[int, str, object]:
    """Hash the existing entries in time order; return the head (seq, hash, time)."""
    bind = op.get_bind()
    rows = bind.execute(sa.select(AUDIT_LOG).order_by(AUDIT_LOG.c.at, AUDIT_LOG.c.id)).all()
    prev, seq, at = GENESIS_HASH, 0, None
    for row in rows:
        seq += 1
        own = content_hash(
            AuditEntry(
                0,  # content only: its place in the chain is not hashed
                row.at,
                row.principal,
                row.role,
                row.action,
                row.query_type,
                row.case_id,
                row.purpose,
                row.filters or {},
                row.image_sha256,
                row.hit_count,
                row.target,
            )
        )
        chained = entry_hash(prev, own, seq)
        bind.execute(
            AUDIT_LOG.update()
            .where(AUDIT_LOG.c.id == row.id)
            .values(seq=seq, prev_hash=prev, content_hash=own, entry_hash=chained)
        )
        prev, at = chained, row.at
    return seq, prev, at


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    _drop_old_triggers(dialect)
    with op.batch_alter_table("audit_log") as batch:
        batch.add_column(sa.Column("seq", ROW_ID, nullable=True))
        for name in HASH_COLUMNS:
            batch.add_column(sa.Column(name, sa.String(64), nullable=True))
    op.create_table(
        "audit_chain_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("seq", ROW_ID, nullable=False),
        sa.Column("entry_hash", sa.String(64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_audit_chain_head"),
    )
    op.create_table(
        "audit_checkpoints",
        sa.Column("id", ROW_ID, autoincrement=True, nullable=False),
        sa.Column("seq", ROW_ID, nullable=False),
        sa.Column("entry_hash", sa.String(64), nullable=False),
        sa.Column("signed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("signature", sa.Text(), nullable=False),
        sa.Column("key_fingerprint", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit_checkpoints"),
        sa.UniqueConstraint("seq", name="uq_audit_checkpoints_seq"),
    )
    seq, head_hash, at = _chain_existing_rows()
    op.get_bind().execute(CHAIN_HEAD.insert().values(id=1, seq=seq, entry_hash=head_hash, at=at))
    with op.batch_alter_table("audit_log") as batch:
        batch.alter_column("seq", existing_type=ROW_ID, nullable=False)
        for name in HASH_COLUMNS:
            batch.alter_column(name, existing_type=sa.String(64), nullable=False)
        batch.create_unique_constraint("uq_audit_log_seq", ["seq"])
    if dialect == "sqlite":
        statements: tuple[str, ...] = SQLITE_TRIGGERS
    else:
        statements = (POSTGRES_REFUSE, *POSTGRES_TRIGGERS)
    for statement in statements:
        op.execute(statement)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for statement in SQLITE_TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {statement.split()[2]}")
    else:
        for statement in POSTGRES_TRIGGERS:
            name, table = statement.split()[2], statement.split(" ON ")[1].split()[0]
            op.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}")
    op.drop_table("audit_checkpoints")
    op.drop_table("audit_chain_head")
    with op.batch_alter_table("audit_log") as batch:
        batch.drop_constraint("uq_audit_log_seq", type_="unique")
        for name in ("seq", *HASH_COLUMNS):
            batch.drop_column(name)
    if dialect == "sqlite":
        for statement in SQLITE_TRIGGERS[:2]:
            op.execute(statement)
    else:
        for statement in POSTGRES_TRIGGERS[:2]:
            op.execute(statement)
