"""The violation engine with a stepped clock on a real frame (vtest's empty scene), boxes
given as the tracker would give them: stall dwell, absences, schedule gating, fire lane,
restricted trucks, and the hard negatives (passer-by, a group standing < dwell, a person
waiting with feet outside the zone, a brief stop, a stall outside its schedule)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import cv2
import numpy as np
import pytest

from detect.detections import COCO_CLASSES, Detections
from detect.violations import ViolationDetector, split_side_detections
from detect.zone_rules import Schedule, TimeWindow, ViolationUpdate, ZoneRule
from sample_streams import synthetic

T0 = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)  # a Monday, 09:00 UTC = 17:00 in Shanghai
W, H = 768, 576
ZONE = ((0.1, 0.5), (0.6, 0.5), (0.6, 0.95), (0.1, 0.95))  # x 77-461, y 288-547 px
DWELL_S = 60.0
VENDOR = (200.0, 330.0, 240.0, 450.0)  # feet at (220, 450): inside
STALL_CHAIR = (250.0, 400.0, 300.0, 460.0)
WAITING = (40.0, 300.0, 70.0, 420.0)  # feet at x 55: left of the zone


@pytest.fixture(scope="module")
def scene() -> np.ndarray:
    if not synthetic.VTEST_PATH.is_file():
        pytest.fail(f"{synthetic.VTEST_PATH} missing (Debian package opencv-doc)")
    return synthetic.median_background()


def rule(kind: str = "sidewalk", **changes: object) -> ZoneRule:
    values: dict[str, object] = {"min_dwell_s": DWELL_S, "kind": kind, "polygon": ZONE}
    values.update(changes)
    return ZoneRule(7, "cam1", "market", **values)  # type: ignore[arg-type]


def boxes(*items: tuple[str, tuple[float, ...], int | None]) -> tuple[Detections, Detections]:
    """(tracked, side) detections of `items` (class, box, track id or None)."""
    tracked = [i for i in items if i[2] is not None]
    side = [i for i in items if i[2] is None]

    def make(part: list[tuple[str, tuple[float, ...], int | None]], ids: bool) -> Detections:
        if not part:
            return Detections.empty()
        return Detections(
            np.array([p[1] for p in part], np.float32),
            np.full(len(part), 0.8, np.float32),
            np.array([COCO_CLASSES.index(p[0]) for p in part], np.int64),
            np.array([p[2] for p in part], np.int64) if ids else None,
        )

    return make(tracked, True), make(side, False)


def run(
    engine: ViolationDetector,
    scene: np.ndarray,
    seconds: float,
    step_s: float,
    items_at: object,
    start_s: float = 0.0,
) -> list[ViolationUpdate]:
    updates: list[ViolationUpdate] = []
    for at_s in times(start_s, seconds, step_s):
        tracked, side = boxes(*items_at(at_s))  # type: ignore[operator]
        updates += engine.observe(scene, T0 + timedelta(seconds=at_s), tracked, side)
    return updates


def times(start_s: float, seconds: float, step_s: float) -> Iterator[float]:
    at_s = start_s
    while at_s < start_s + seconds:
        yield at_s
        at_s += step_s


def stall(at_s: float) -> list[tuple[str, tuple[float, ...], int | None]]:
    return [("person", VENDOR, 1), ("chair", STALL_CHAIR, None)]


def test_stall_opens_after_dwell_updates_and_ends(scene: np.ndarray) -> None:
    engine = ViolationDetector("cam1", [rule()])
    # 5 fps for 10 s, then the motion gate's keep-alive: a frame every 2 s
    updates = run(engine, scene, 10, 0.2, stall)
    updates += run(engine, scene, 200, 2.0, stall, start_s=10)
    opened = [u for u in updates if u.phase == "opened"]
    assert len(opened) == 1 and opened[0].kind == "street_vending"
    # the vendor and chair stay from t=0; they count as staying after 20 s; dwell 60 s more
    delay_s = (opened[0].last_seen_at - T0).total_seconds()
    assert 60 <= delay_s <= 60 + 20 + 2
    assert opened[0].started_at == T0 and opened[0].local_track_ids == (1,)
    assert len(opened[0].snapshots) == 1
    picture = cv2.imdecode(np.frombuffer(opened[0].snapshots[0].jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert picture is not None and picture.shape[:2] == (480, 640)
    # a helper joins: one update naming both tracks
    helper = (330.0, 340.0, 370.0, 460.0)
    updates = run(engine, scene, 60, 2.0, lambda t: [*stall(t), ("person", helper, 5)], start_s=210)
    assert [u.phase for u in updates] == ["updated"] and updates[0].local_track_ids == (1, 5)
    # a short absence (20 s < 30 s tolerance) changes nothing; then all leave
    assert run(engine, scene, 20, 2.0, lambda t: [], start_s=270) == []
    updates = run(engine, scene, 40, 2.0, stall, start_s=290)
    updates += run(engine, scene, 40, 2.0, lambda t: [], start_s=330)
    ended = [u for u in updates if u.phase == "ended"]
    assert len(ended) == 1 and ended[0].started_at == T0
    assert (ended[0].last_seen_at - T0).total_seconds() == pytest.approx(328)
    assert len(ended[0].snapshots) == 2  # middle and last sighting


def test_group_standing_below_dwell_and_people_alone_never_alert(scene: np.ndarray) -> None:
    engine = ViolationDetector("cam1", [rule(min_dwell_s=300)])
    group = [("person", (200.0 + 40 * i, 330.0, 240.0 + 40 * i, 450.0), i + 1) for i in range(3)]
    handbag = ("handbag", (205.0, 380.0, 235.0, 410.0), None)  # carried: in a person's box
    assert run(engine, scene, 170, 1.0, lambda t: [*group, handbag]) == []
    people_only = ViolationDetector("cam1", [rule(min_dwell_s=60)])
    assert run(people_only, scene, 600, 2.0, lambda t: group) == []


def test_passers_by_past_a_parked_bicycle_never_alert(scene: np.ndarray) -> None:
    engine = ViolationDetector("cam1", [rule()])

    def walking(at_s: float) -> list[tuple[str, tuple[float, ...], int | None]]:
        x = 80 + (at_s * 60) % 380  # 60 px/s across the zone, a new person each pass
        person = ("person", (x, 330.0, x + 40, 450.0), 100 + int(at_s * 60 // 380))
        return [person, ("bicycle", (400.0, 420.0, 450.0, 470.0), 50)]

    assert run(engine, scene, 600, 0.2, walking) == []


def test_person_waiting_with_feet_outside_the_zone(scene: np.ndarray) -> None:
    engine = ViolationDetector("cam1", [rule()])
    waiting = lambda t: [("person", WAITING, 3), ("chair", STALL_CHAIR, None)]  # noqa: E731
    assert run(engine, scene, 400, 2.0, waiting) == []


def test_schedule_gates_and_closing_ends(scene: np.ndarray) -> None:
    evening = Schedule(windows=(TimeWindow.parse("17:05-22:00"),))  # Shanghai local time
    engine = ViolationDetector("cam1", [rule(schedule=evening, timezone="Asia/Shanghai")])
    # 17:00-17:05 local: outside the schedule, nothing however long the stall stays
    assert run(engine, scene, 300, 2.0, stall) == []
    # from 17:05 the dwell counts from the schedule's start, not from the stall's
    updates = run(engine, scene, 120, 2.0, stall, start_s=300)
    assert [u.phase for u in updates] == ["opened"]
    assert updates[0].started_at == T0 + timedelta(seconds=300)
    # the schedule closes at 22:00 local: the violation ends there
    closing = T0 + timedelta(hours=5) - timedelta(seconds=4)
    tracked, side = boxes(*stall(0))
    updates = [
        u
        for s in (0, 2, 4)
        for u in engine.observe(scene, closing + timedelta(seconds=s), tracked, side)
    ]
    assert [u.phase for u in updates] == ["ended"]


def test_fire_lane_vehicle_past_dwell_but_not_a_brief_stop(scene: np.ndarray) -> None:
    car = ("car", (150.0, 380.0, 330.0, 500.0), 9)
    brief = ViolationDetector("cam1", [rule("fire_lane")])
    assert run(brief, scene, 60, 1.0, lambda t: [car]) == []
    assert run(brief, scene, 60, 1.0, lambda t: [], start_s=60) == []
    parked = ViolationDetector("cam1", [rule("fire_lane")])
    updates = run(parked, scene, 120, 1.0, lambda t: [car])
    assert [u.phase for u in updates] == ["opened"]
    assert updates[0].kind == "fire_lane_occupation" and updates[0].severity == "high"
    assert 60 <= (updates[0].last_seen_at - T0).total_seconds() <= 72


def test_restricted_truck_at_once_inside_the_schedule_only(scene: np.ndarray) -> None:
    def truck(at_s: float) -> list[tuple[str, tuple[float, ...], int | None]]:
        x = 100 + 50 * at_s
        return [("truck", (x, 350.0, x + 150, 500.0), 4), ("car", (100.0, 350.0, 200.0, 450.0), 2)]

    night = Schedule(windows=(TimeWindow.parse("22:00-06:00"),))
    outside = ViolationDetector("cam1", [rule("restricted_vehicles", schedule=night)])
    assert run(outside, scene, 6, 0.2, truck) == []
    inside = ViolationDetector("cam1", [rule("restricted_vehicles")])
    updates = run(inside, scene, 6, 0.2, truck)
    assert updates[0].phase == "opened" and updates[0].last_seen_at == T0
    assert updates[0].kind == "restricted_vehicle" and updates[0].local_track_ids == (4,)
    assert [u.phase for u in updates] == ["opened"]


def test_restricted_zone_takes_a_car_as_long_as_a_truck_for_a_truck(scene: np.ndarray) -> None:
    def cars(at_s: float) -> list[tuple[str, tuple[float, ...], int | None]]:
        x = 100 + 20 * at_s  # zone x 77-461 px: a truck spans ≥ 0.6 of it (230 px)
        return [("car", (x, 350.0, x + 260, 450.0), 4), ("car", (x, 420.0, x + 150, 500.0), 5)]

    engine = ViolationDetector("cam1", [rule("restricted_vehicles")])
    updates = run(engine, scene, 6, 0.5, cars)
    assert [u.phase for u in updates] == ["opened"] and updates[0].local_track_ids == (4,)
    only_cars = ViolationDetector("cam1", [rule("restricted_vehicles")])
    assert run(only_cars, scene, 6, 0.5, lambda t: cars(t)[1:]) == []
    fire_lane = ViolationDetector("cam1", [rule("fire_lane")])  # other zones keep the class
    assert run(fire_lane, scene, 6, 0.5, cars) == []


def test_rule_change_ends_and_close_ends(scene: np.ndarray) -> None:
    engine = ViolationDetector("cam1", [rule()])
    assert [u.phase for u in run(engine, scene, 100, 2.0, stall)] == ["opened"]
    assert [u.phase for u in engine.set_rules([rule(min_dwell_s=120)])] == ["ended"]
    assert engine.set_rules([rule(min_dwell_s=120)]) == []  # unchanged: state kept
    assert engine.close() == []


def test_side_classes_are_split_from_tracked_ones() -> None:
    _, side = boxes(("person", VENDOR, None), ("chair", STALL_CHAIR, None))
    for_tracker, rules_only = split_side_detections(side)
    assert for_tracker.class_name == ["person"] and rules_only.class_name == ["chair"]


def test_goods_hold_the_stall_while_the_vendor_is_away(scene: np.ndarray) -> None:
    """A vendor away 45 s (> the 30 s absence tolerance) with the goods left in place: the dwell
    goes on from the stall's start instead of restarting when they come back."""
    engine = ViolationDetector("cam1", [rule()])
    chair_only = [("chair", STALL_CHAIR, None)]
    updates = run(engine, scene, 40, 2.0, stall)  # together from t=0 (staying from t=20)
    assert updates == []
    updates += run(engine, scene, 45, 2.0, lambda t: chair_only, start_s=40)  # away 45 s
    updates += run(engine, scene, 60, 2.0, stall, start_s=85)  # back
    opened = [u for u in updates if u.phase == "opened"]
    assert len(opened) == 1 and opened[0].started_at == T0  # the dwell did not restart
    assert DWELL_S <= (opened[0].last_seen_at - T0).total_seconds() <= DWELL_S + 2
    assert [u.phase for u in updates] == ["opened"]  # and it went on, not ended and reopened


def test_goods_left_longer_than_the_vendor_may_be_away_end_the_stall(scene: np.ndarray) -> None:
    engine = ViolationDetector("cam1", [rule(min_dwell_s=300)])
    updates = run(engine, scene, 40, 2.0, stall)
    updates += run(engine, scene, 200, 2.0, lambda t: [("chair", STALL_CHAIR, None)], start_s=40)
    updates += run(engine, scene, 200, 2.0, stall, start_s=240)  # a new dwell from t=240
    assert [u.phase for u in updates] == []


def test_street_furniture_does_not_hold_a_stall(scene: np.ndarray) -> None:
    """People waiting one after another beside a bench that was always there (a bus stop):
    the bench is not goods, so no wait carries over to the next person."""
    engine = ViolationDetector("cam1", [rule()])
    bench = ("bench", STALL_CHAIR, None)
    updates = run(engine, scene, 400, 2.0, lambda t: [bench])  # the bench, long before anyone
    for n, start_s in enumerate((400.0, 500.0, 600.0)):  # 50 s waits, 50 s apart
        updates += run(
            engine, scene, 50, 2.0, lambda t, n=n: [bench, ("person", VENDOR, 10 + n)],
            start_s=start_s,
        )  # fmt: skip
        updates += run(engine, scene, 50, 2.0, lambda t: [bench], start_s=start_s + 50)
    assert [u for u in updates if u.phase == "opened"] == []


def test_the_static_model_looks_at_most_once_a_second(
    scene: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = ViolationDetector("cam1", [rule()])
    assert engine._static is not None
    calls: list[float] = []
    update = engine._static.update

    def counted(image: np.ndarray, at_s: float, people: np.ndarray | None = None) -> list:
        calls.append(at_s)
        return update(image, at_s, people)

    monkeypatch.setattr(engine._static, "update", counted)
    run(engine, scene, 10, 0.2, lambda t: [])  # ~50 frames at 5 fps, over 10 s
    assert 10 <= len(calls) <= 11
    assert all(b - a >= 1.0 - 1e-6 for a, b in itertools.pairwise(calls))
