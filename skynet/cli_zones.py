"""`skynet zone …`: a camera's zones and their rules (issue #13), written to the catalog; a
running `skynet serve` applies them at its next camera poll."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from skynet.cli_catalog import audit_cli_change, catalog_sessions
from skynet.settings import Settings

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from index.catalog import Zone

zones = typer.Typer(help="Zones and their rules (what a zone forbids, when)")
console = Console()
KIND_HELP = "generic, no_vending, sidewalk, roadway, fire_lane or restricted_vehicles"
SCHEDULE_HELP = "camera-local: 'always', 'mon-fri 07:00-22:00', 'sat,sun', '22:00-06:00'"


def find_zone(session: Session, camera_id: str, zone: str) -> Zone:
    """The camera's zone named `zone`, or with that id; BadParameter otherwise."""
    from index.catalog import get_camera, list_zones

    if get_camera(session, camera_id) is None:
        raise typer.BadParameter(f"camera {camera_id!r} not found")
    for candidate in list_zones(session, camera_id):
        if zone in (candidate.name, str(candidate.id)):
            return candidate
    raise typer.BadParameter(f"camera {camera_id!r} has no zone {zone!r} (give its name or id)")


def parse_polygon(text: str) -> list[tuple[float, float]]:
    """`--polygon "x,y x,y x,y"`: vertices as fractions of the picture, checked as the API
    checks them; BadParameter naming --polygon otherwise."""
    from index.catalog.zones import check_polygon

    try:
        vertices = [(float(x), float(y)) for x, y in (v.split(",") for v in text.split())]
    except ValueError as error:
        raise typer.BadParameter(f"--polygon: {text!r} is not 'x,y x,y x,y …'") from error
    try:
        return list(check_polygon(vertices))
    except ValueError as error:
        raise typer.BadParameter(f"--polygon: {error}") from error


@zones.command("add")
def zone_add(
    camera_id: Annotated[str, typer.Argument(help="camera id")],
    name: Annotated[str, typer.Argument(help="zone name, unique on the camera")],
    polygon: Annotated[
        str,
        typer.Option(
            help="vertices 'x,y x,y x,y …' as fractions of the picture's width and height, "
            "origin top left (GET /api/v1/cameras/ID/frame is the picture)"
        ),
    ],
) -> None:
    """Draw a zone on a camera (as POST /api/v1/cameras/ID/zones); it forbids nothing until
    `skynet zone rule` gives it a rule."""
    from index.catalog import create_zone, get_camera

    vertices = parse_polygon(polygon)
    with catalog_sessions(Settings())() as session:
        if get_camera(session, camera_id) is None:
            raise typer.BadParameter(f"camera {camera_id!r} not found")
        try:
            zone = create_zone(session, camera_id, name, vertices)
        except ValueError as error:  # a bad name, or the name taken
            raise typer.BadParameter(str(error)) from error
        audit_cli_change(session, "zone_add", f"zone:{zone.id}", camera_id=camera_id)
        session.commit()
    console.print(f"zone {zone.name} ({zone.id}) added on {camera_id}", markup=False)


@zones.command("rule")
def zone_rule(
    camera_id: Annotated[str, typer.Argument(help="camera id")],
    zone: Annotated[str, typer.Argument(help="zone name or id")],
    kind: Annotated[str | None, typer.Option(help=f"{KIND_HELP} [default: no_vending]")] = None,
    schedule: Annotated[str | None, typer.Option(help=f"{SCHEDULE_HELP} [default: always]")] = None,
    dwell: Annotated[
        float | None, typer.Option(help="minimum dwell, seconds [default: 300]")
    ] = None,
    sensitivity: Annotated[
        float | None, typer.Option(help="0..1: higher counts more [default: 0.5]")
    ] = None,
    classes: Annotated[
        str | None, typer.Option(help="comma-separated COCO classes (default: the kind's)")
    ] = None,
) -> None:
    """Set what a zone forbids, when (in the camera's time zone), and after how long. Options
    not given keep the zone's current rule; a zone without one (generic) starts from the
    defaults shown."""
    from index.catalog import ZoneRuleSpec, parse_schedule_text, schedule_text, set_zone_rule

    with catalog_sessions(Settings())() as session:
        found = find_zone(session, camera_id, zone)
        current = found.rule if found.rule.kind != "generic" else ZoneRuleSpec("no_vending")
        try:
            spec = ZoneRuleSpec.checked(
                current.kind if kind is None else kind,
                current.schedule if schedule is None else parse_schedule_text(schedule),
                current.min_dwell_s if dwell is None else dwell,
                current.sensitivity if sensitivity is None else sensitivity,
                current.classes if classes is None else _class_names(classes),
            )
        except ValueError as error:  # RuleError: "field: problem"
            raise typer.BadParameter(f"--{str(error).replace('min_dwell_s', 'dwell')}") from error
        set_zone_rule(session, found.id, spec)
        audit_cli_change(
            session, "zone_rule", f"zone:{found.id}", camera_id=camera_id, kind=spec.kind,
            schedule=schedule_text(spec.schedule), min_dwell_s=spec.min_dwell_s,
            sensitivity=spec.sensitivity, classes=sorted(spec.classes),
        )  # fmt: skip
        session.commit()
    console.print(
        f"zone {found.name} ({found.id}) on {camera_id}: {spec.kind}, "
        f"{schedule_text(spec.schedule)}, dwell {spec.min_dwell_s:g} s",
        markup=False,
    )


def _class_names(text: str) -> list[str]:
    return [name.strip() for name in text.split(",") if name.strip()]


@zones.command("list")
def zone_list(camera_id: Annotated[str, typer.Argument(help="camera id")]) -> None:
    """A camera's zones and their rules."""
    from index.catalog import get_camera, list_zones, schedule_text

    table = Table("id", "name", "kind", "schedule", "dwell s", "sensitivity", "classes")
    with catalog_sessions(Settings())() as session:
        if get_camera(session, camera_id) is None:
            raise typer.BadParameter(f"camera {camera_id!r} not found")
        for found in list_zones(session, camera_id):
            rule = found.rule
            if rule.kind == "generic":  # a plain zone: no schedule, dwell or classes apply
                table.add_row(str(found.id), found.name, "generic (no rule)", "-", "-", "-", "-")
                continue
            table.add_row(
                str(found.id), found.name, rule.kind, schedule_text(rule.schedule),
                f"{rule.min_dwell_s:g}", f"{rule.sensitivity:g}",
                ",".join(sorted(rule.classes)) or "(kind's)",
            )  # fmt: skip
    console.print(table)
