"""The catalog session factory the CLI commands share (skynet/cli.py, skynet/cli_zones.py), and
the audit entry of an admin change made on the CLI."""

from __future__ import annotations

import getpass

from sqlalchemy.orm import Session, sessionmaker

from skynet.settings import Settings


def catalog_sessions(settings: Settings) -> sessionmaker[Session]:
    from index.catalog.engine import init_catalog, session_factory

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return session_factory(init_catalog(settings.catalog_url))


def audit_cli_change(session: Session, action: str, target: str, **filters: object) -> None:
    """Audit a change made on the CLI (which acts as an admin, `cli:<user>`) in the transaction
    that makes it, under the action name the API uses for the same change."""
    from index.catalog import append_audit

    append_audit(
        session, principal=f"cli:{getpass.getuser()}", role="admin", action=action,
        target=target, filters=filters or None,
    )  # fmt: skip
