"""`skynet zone rule/list`, `skynet camera … --timezone` and city_manager keys on a real SQLite
catalog: rules stored as given (options not given keep the current rule), bad fields named
in the error."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from index.catalog import (
    audit_entries,
    camera_zone_rules,
    create_zone,
    get_camera,
    list_api_keys,
    list_zones,
)
from index.catalog.engine import init_catalog, session_factory
from skynet.cli import app

SQUARE = [(0.1, 0.1), (0.6, 0.1), (0.6, 0.6), (0.1, 0.6)]


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SKYNET_DATA_DIR", str(tmp_path))
    added = CliRunner().invoke(
        app,
        [
            "camera",
            "add",
            "market",
            "--main",
            "rtsp://10.0.0.5/main",
            "--timezone",
            "Asia/Shanghai",
        ],
    )
    assert added.exit_code == 0, added.output
    with session_factory(init_catalog(f"sqlite:///{tmp_path / 'catalog.db'}"))() as session:
        create_zone(session, "market", "east pavement", SQUARE)
        session.commit()
    return tmp_path


def catalog(data_dir: Path) -> Session:
    return session_factory(init_catalog(f"sqlite:///{data_dir / 'catalog.db'}"))()


def test_zone_rule_is_stored_and_listed(data_dir: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(
        app,
        ["zone", "rule", "market", "east pavement", "--kind", "no_vending", "--schedule",
         "mon-fri 07:00-22:00", "--dwell", "240", "--classes", "umbrella,person"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    with catalog(data_dir) as session:
        (rule,) = camera_zone_rules(session, "market", "UTC")
    assert (rule.kind, rule.min_dwell_s, rule.timezone) == ("no_vending", 240.0, "Asia/Shanghai")
    assert (
        rule.schedule.days == frozenset(range(5)) and str(rule.schedule.windows[0]) == "07:00-22:00"
    )
    assert rule.classes == frozenset({"umbrella", "person"})
    by_id = runner.invoke(app, ["zone", "rule", "market", "1", "--kind", "fire_lane"])
    assert by_id.exit_code == 0, by_id.output
    listed = runner.invoke(app, ["zone", "list", "market"])
    assert "fire_lane" in listed.output and "07:00-22:00" in listed.output


def test_options_not_given_keep_the_current_rule(data_dir: Path) -> None:
    """Changing one option keeps the others (it used to reset them to no_vending, dwell 300)."""
    runner = CliRunner()
    first = ["--kind", "fire_lane", "--dwell", "60", "--sensitivity", "0.8", "--classes", "car"]
    assert runner.invoke(app, ["zone", "rule", "market", "east pavement", *first]).exit_code == 0
    result = runner.invoke(
        app, ["zone", "rule", "market", "east pavement", "--schedule", "sat,sun"]
    )
    assert result.exit_code == 0, result.output
    with catalog(data_dir) as session:
        (rule,) = camera_zone_rules(session, "market", "UTC")
    assert (rule.kind, rule.min_dwell_s, rule.sensitivity) == ("fire_lane", 60.0, 0.8)
    assert rule.classes == frozenset({"car"}) and rule.schedule.days == frozenset({5, 6})
    cleared = runner.invoke(app, ["zone", "rule", "market", "1", "--classes", ""])
    assert cleared.exit_code == 0, cleared.output
    with catalog(data_dir) as session:
        (rule,) = camera_zone_rules(session, "market", "UTC")
    assert rule.classes == frozenset() and (rule.kind, rule.min_dwell_s) == ("fire_lane", 60.0)


def test_zone_add_draws_a_zone_that_rule_then_finds(data_dir: Path) -> None:
    """A zone drawn on the CLI is stored with its polygon (tracks relinked as by the API),
    audited, and takes a rule by name; a bad polygon or a taken name is refused by field."""
    runner = CliRunner()
    added = runner.invoke(
        app, ["zone", "add", "market", "fire lane", "--polygon", "0.7,0.1 0.9,0.1 0.9,0.3"]
    )
    assert added.exit_code == 0, added.output
    with catalog(data_dir) as session:
        (zone,) = [z for z in list_zones(session, "market") if z.name == "fire lane"]
        actions = [e.action for e in audit_entries(session)]
    assert zone.polygon == ((0.7, 0.1), (0.9, 0.1), (0.9, 0.3)) and "zone_add" in actions
    ruled = runner.invoke(app, ["zone", "rule", "market", "fire lane", "--kind", "fire_lane"])
    assert ruled.exit_code == 0, ruled.output
    for polygon, reason in [
        ("0.1,0.1 0.9,0.9 0.9,0.1 0.1,0.9", "--polygon: edges 0 and 2 cross"),
        ("0.1;0.1 0.9", "--polygon: '0.1;0.1 0.9' is not"),
        ("0.1,0.1 1.5,0.1 0.5,0.9", "--polygon: vertex [1.5, 0.1] is outside"),
    ]:
        refused = runner.invoke(app, ["zone", "add", "market", "x", "--polygon", polygon])
        assert refused.exit_code == 2 and reason in refused.output, refused.output
    line = runner.invoke(app, ["zone", "add", "market", "x", "--polygon", "0,0 1,1"])
    assert line.exit_code == 2 and "--polygon: needs 3 to 64 vertices" in line.output
    taken = ["zone", "add", "market", "fire lane", "--polygon", "0.1,0.1 0.3,0.1 0.3,0.3"]
    assert "already has a zone named 'fire lane'" in runner.invoke(app, taken).output


def test_a_zone_without_a_rule_is_listed_without_rule_settings(data_dir: Path) -> None:
    """A generic zone forbids nothing: no schedule, dwell or classes are shown for it."""
    listed = CliRunner().invoke(app, ["zone", "list", "market"], terminal_width=200)
    assert listed.exit_code == 0, listed.output
    (row,) = [line for line in listed.output.splitlines() if "east pavement" in line]
    assert "no rule" in row
    assert not any(shown in row for shown in ("always", "300", "0.5", "(kind's)"))


def test_a_zone_without_a_rule_starts_from_the_defaults(data_dir: Path) -> None:
    result = CliRunner().invoke(app, ["zone", "rule", "market", "1", "--schedule", "sat,sun"])
    assert result.exit_code == 0, result.output
    with catalog(data_dir) as session:
        (rule,) = camera_zone_rules(session, "market", "UTC")
    assert (rule.kind, rule.min_dwell_s, rule.sensitivity) == ("no_vending", 300.0, 0.5)
    assert rule.schedule.days == frozenset({5, 6}) and rule.classes == frozenset()


@pytest.mark.parametrize(
    ("options", "field"),
    [
        (["--kind", "no_parking"], "--kind"),
        (["--schedule", "mon-fri 07:00-12:00 11:00-13:00"], "--schedule"),
        (["--schedule", "someday"], "--schedule"),
        (["--dwell", "-1"], "--dwell"),
        (["--sensitivity", "3"], "--sensitivity"),
        (["--classes", "stall"], "--classes"),
    ],
)
def test_bad_rule_options_are_named(data_dir: Path, options: list[str], field: str) -> None:
    result = CliRunner().invoke(app, ["zone", "rule", "market", "east pavement", *options])
    assert result.exit_code != 0
    assert field in result.output


def test_unknown_zone_and_timezone_are_refused(data_dir: Path) -> None:
    runner = CliRunner()
    missing = runner.invoke(app, ["zone", "rule", "market", "west"])
    assert missing.exit_code != 0 and "no zone 'west'" in missing.output
    bad_zone = runner.invoke(app, ["camera", "set", "market", "--timezone", "Mars/Olympus"])
    assert bad_zone.exit_code != 0 and "Mars/Olympus" in bad_zone.output
    changed = runner.invoke(app, ["camera", "set", "market", "--timezone", "Europe/Berlin"])
    assert changed.exit_code == 0, changed.output
    with catalog(data_dir) as session:
        spec = get_camera(session, "market")
    assert spec is not None and spec.timezone == "Europe/Berlin"


def test_city_manager_keys_can_be_created(data_dir: Path) -> None:
    result = CliRunner().invoke(app, ["api-key", "create", "city desk", "--role", "city_manager"])
    assert result.exit_code == 0, result.output
    with catalog(data_dir) as session:
        assert [k.role for k in list_api_keys(session)] == ["city_manager"]
