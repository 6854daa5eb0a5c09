"""`skynet user …` and `skynet camera-group …` (issue #17): user accounts (argon2id password
hashes, never the passwords), their camera grants (cameras, camera groups or all; also for API
keys with --key), and camera groups. The CLI acts as an admin (`cli:<user>`); every change is
audited like the API's."""

from __future__ import annotations

import getpass
import sys
from typing import Annotated

import typer
from rich.console import Console

from skynet.cli_catalog import audit_cli_change, catalog_sessions
from skynet.cli_tables import handle_column, whole_table
from skynet.settings import Settings

users = typer.Typer(
    help="User accounts: sign in with POST /api/v1/auth/login", no_args_is_help=True
)
camera_groups = typer.Typer(help="Camera groups: grants and retention tiers name them")
console = Console()
ROLES_HELP = "admin, investigator, city_manager, operator, auditor or viewer"


def cli_principal() -> str:
    return f"cli:{getpass.getuser()}"


def _read_password(from_stdin: bool) -> str:
    """The new password: one line of stdin with --password-stdin, else asked twice."""
    from index.passwords import check_password

    if from_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    try:
        return check_password(password)
    except ValueError as error:
        raise typer.BadParameter(str(error)) from error


StdinOption = Annotated[
    bool, typer.Option("--password-stdin", help="read the password from one line of stdin")
]


@users.command("add")
def user_add(
    name: Annotated[str, typer.Argument(help="sign-in name")],
    role: Annotated[str, typer.Option(help=ROLES_HELP)],
    password_stdin: StdinOption = False,
) -> None:
    """Add a user (no cameras until granted: `skynet user grant`)."""
    from index.catalog.accounts import create_user
    from index.passwords import hash_password

    password = _read_password(password_stdin)
    with catalog_sessions(Settings())() as session:
        try:
            user = create_user(session, name, role, hash_password(password))
        except ValueError as error:
            raise typer.BadParameter(str(error)) from error
        audit_cli_change(session, "user_create", f"user:{name}", role=role)
        session.commit()
    console.print(f"user {user.name} ({user.role}) added; grant cameras with skynet user grant")


@users.command("list")
def user_list() -> None:
    """Users: role, state, cameras granted."""
    from datetime import UTC, datetime

    from index.catalog.accounts import list_users
    from index.catalog.grants import grants_of

    now = datetime.now(UTC)
    with catalog_sessions(Settings())() as session:
        found = list_users(session)
        table = whole_table(
            handle_column("name", (u.name for u in found)), "role", "state", "cameras"
        )
        for user in found:
            state = "disabled" if user.disabled_at else "active"
            if user.locked(now) and user.locked_until is not None:
                state = f"locked until {user.locked_until:%Y-%m-%d %H:%M} UTC"
            grants = ", ".join(g.target for g in grants_of(session, user_id=user.id)) or "none"
            table.add_row(user.name, user.role, state, grants)
    console.print(table)


@users.command("disable")
def user_disable(name: Annotated[str, typer.Argument(help="sign-in name")]) -> None:
    """Disable a user: its sessions end now and it cannot log in."""
    from index.catalog.accounts import disable_user

    with catalog_sessions(Settings())() as session:
        try:
            disable_user(session, name)
        except LookupError as error:
            raise typer.BadParameter(f"NAME: {error}") from error
        audit_cli_change(session, "user_disable", f"user:{name}")
        session.commit()
    console.print(f"user {name} disabled; its sessions are revoked")


@users.command("passwd")
def user_passwd(
    name: Annotated[str, typer.Argument(help="sign-in name")],
    password_stdin: StdinOption = False,
) -> None:
    """Set a user's password (ends its sessions, clears a lock-out)."""
    from index.catalog.accounts import set_password_hash
    from index.passwords import hash_password

    password = _read_password(password_stdin)
    with catalog_sessions(Settings())() as session:
        try:
            set_password_hash(session, name, hash_password(password))
        except LookupError as error:
            raise typer.BadParameter(f"NAME: {error}") from error
        audit_cli_change(session, "user_password", f"user:{name}")
        session.commit()
    console.print(f"password of {name} changed; its sessions are revoked")


@users.command("grant")
def user_grant(
    name: Annotated[str, typer.Argument(help="sign-in name (an API key's name with --key)")],
    camera: Annotated[list[str] | None, typer.Option(help="a camera id (repeatable)")] = None,
    group: Annotated[list[str] | None, typer.Option(help="a camera group (repeatable)")] = None,
    all_cameras: Annotated[bool, typer.Option("--all-cameras", help="every camera")] = False,
    revoke: Annotated[bool, typer.Option("--revoke", help="remove these grants")] = False,
    key: Annotated[bool, typer.Option("--key", help="NAME is an active API key's name")] = False,
) -> None:
    """Let a user (or API key) see cameras: --camera, --group or --all-cameras (--revoke
    removes them). Changes apply to live sessions at their next request."""
    from index.catalog import api_key_named
    from index.catalog.accounts import get_user
    from index.catalog.grants import add_grant, grants_of, remove_grants

    targets: list[tuple[str | None, str | None]] = [(c, None) for c in camera or []]
    targets += [(None, g) for g in group or []]
    if all_cameras:
        targets.append((None, None))
    if not targets:
        raise typer.BadParameter("give --camera, --group or --all-cameras")
    with catalog_sessions(Settings())() as session:
        if key:
            info = api_key_named(session, name)
            holder = None if info is None else {"key_id": info.id}
        else:
            user = get_user(session, name)
            holder = None if user is None else {"user_id": user.id}
        if holder is None:
            raise typer.BadParameter(f"NAME: no {'active API key' if key else 'user'} {name!r}")
        for camera_id, group_name in targets:
            try:
                if revoke:
                    remove_grants(session, camera_id=camera_id, group_name=group_name, **holder)
                else:
                    add_grant(
                        session, cli_principal(), camera_id=camera_id, group_name=group_name,
                        **holder,
                    )  # fmt: skip
            except (LookupError, ValueError) as error:
                raise typer.BadParameter(str(error)) from error
        now = ", ".join(g.target for g in grants_of(session, **holder)) or "none"
        what = [c or (f"group:{g}" if g else "all cameras") for c, g in targets]
        holder_kind = "key" if key else "user"
        action = "grant_remove" if revoke else "grant_add"
        audit_cli_change(session, action, f"{holder_kind}:{name}", cameras=what)
        session.commit()
    console.print(f"{name} now sees: {now}")


@camera_groups.command("add")
def group_add(
    name: Annotated[str, typer.Argument(help="group name (letters, digits, _.-)")],
    description: Annotated[str, typer.Option(help="what the group is")] = "",
) -> None:
    """Create a camera group."""
    from index.catalog.camera_groups import create_camera_group

    with catalog_sessions(Settings())() as session:
        try:
            create_camera_group(session, name, description)
        except ValueError as error:
            raise typer.BadParameter(str(error)) from error
        audit_cli_change(session, "camera_group_create", f"group:{name}")
        session.commit()
    console.print(f"camera group {name} added")


@camera_groups.command("list")
def group_list() -> None:
    """Camera groups and their cameras."""
    from index.catalog.camera_groups import list_camera_groups

    with catalog_sessions(Settings())() as session:
        found = list_camera_groups(session)
    table = whole_table(handle_column("name", (g.name for g in found)), "description", "cameras")
    for made in found:
        table.add_row(made.name, made.description, ", ".join(made.camera_ids) or "none")
    console.print(table)


@camera_groups.command("assign")
def group_assign(
    camera_id: Annotated[str, typer.Argument(help="the camera")],
    group: Annotated[str | None, typer.Argument(help="its group; leave out with --none")] = None,
    none: Annotated[bool, typer.Option("--none", help="take the camera out of its group")] = False,
) -> None:
    """Put a camera in a group (a camera is in at most one; this moves it)."""
    from index.catalog.camera_groups import set_camera_group

    if (group is None) != none:
        raise typer.BadParameter("give GROUP or --none")
    with catalog_sessions(Settings())() as session:
        try:
            set_camera_group(session, camera_id, group)
        except LookupError as error:
            raise typer.BadParameter(str(error)) from error
        audit_cli_change(session, "camera_group_assign", f"camera:{camera_id}", group=group)
        session.commit()
    console.print(f"camera {camera_id} is in {'no group' if group is None else group}")


def add_account_commands(app: typer.Typer) -> None:
    """Register `skynet user …` and `skynet camera-group …`."""
    app.add_typer(users, name="user")
    app.add_typer(camera_groups, name="camera-group", no_args_is_help=True)
