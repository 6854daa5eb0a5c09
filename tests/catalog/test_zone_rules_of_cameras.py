"""Every camera's zone rules in one query (the runtime's camera poll, issue #13): the same
rules `camera_zone_rules` gives one camera at a time, in each camera's time zone."""

from __future__ import annotations

from sqlalchemy import Engine, event
from sqlalchemy.orm import Session, sessionmaker

from index import catalog
from index.catalog import CameraSpec, ZoneRuleSpec, session_factory
from index.catalog.zones import zone_rules_of_cameras

SQUARE = ((0.1, 0.1), (0.9, 0.1), (0.9, 0.9), (0.1, 0.9))


def test_rules_of_many_cameras_in_one_query(engine: Engine) -> None:
    sessions: sessionmaker[Session] = session_factory(engine)
    with sessions() as session:
        for camera_id, timezone in (("a", "Asia/Shanghai"), ("b", None), ("c", None)):
            spec = CameraSpec(camera_id, camera_id, "rtsp://h/main", timezone=timezone)
            catalog.upsert_camera(session, spec)
        for camera_id, kind in (("a", "no_vending"), ("a", "fire_lane"), ("b", "generic")):
            zone = catalog.create_zone(session, camera_id, f"{camera_id}-{kind}", SQUARE)
            catalog.set_zone_rule(session, zone.id, ZoneRuleSpec.checked(kind))
        session.commit()
    timezones = {"a": "Asia/Shanghai", "b": "UTC", "c": "UTC"}
    statements: list[str] = []

    def seen(*args: object) -> None:
        statements.append(str(args[2]))

    event.listen(engine, "before_cursor_execute", seen)
    with sessions() as session:
        rules = zone_rules_of_cameras(session, timezones)
    event.remove(engine, "before_cursor_execute", seen)
    assert len([s for s in statements if s.lstrip().upper().startswith("SELECT")]) == 1
    assert set(rules) == {"a", "b", "c"} and rules["b"] == rules["c"] == []  # generic: none
    with sessions() as session:
        assert rules["a"] == catalog.camera_zone_rules(session, "a", "UTC")
    assert [r.kind for r in rules["a"]] == ["no_vending", "fire_lane"]
    assert {r.timezone for r in rules["a"]} == {"Asia/Shanghai"}
    with sessions() as session:
        assert zone_rules_of_cameras(session, {}) == {}
