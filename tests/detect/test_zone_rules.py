"""Zone rules: schedules in a camera's local time, windows past midnight, validation."""

from __future__ import annotations

from datetime import UTC, datetime, time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from detect.zone_rules import ALWAYS, Schedule, TimeWindow, ZoneRule

SQUARE = ((0.1, 0.1), (0.9, 0.1), (0.9, 0.9), (0.1, 0.9))


def test_a_daytime_window_in_shanghai_time() -> None:
    daytime = Schedule(windows=(TimeWindow.parse("07:00-22:00"),))
    # 2026-12-07 is a Monday; Shanghai is UTC+8
    assert daytime.active_at(datetime(2026, 12, 7, 0, 0, tzinfo=UTC), "Asia/Shanghai")  # 08:00
    assert not daytime.active_at(datetime(2026, 12, 7, 14, 30, tzinfo=UTC), "Asia/Shanghai")
    assert not daytime.active_at(datetime(2026, 12, 7, 0, 0, tzinfo=UTC), "UTC")  # 00:00 UTC


def test_a_night_window_belongs_to_the_day_it_starts_on() -> None:
    friday_nights = Schedule(days=frozenset({4}), windows=(TimeWindow.parse("22:00-06:00"),))
    friday_23h = datetime(2026, 12, 11, 23, 0, tzinfo=UTC)
    saturday_03h = datetime(2026, 12, 12, 3, 0, tzinfo=UTC)
    saturday_23h = datetime(2026, 12, 12, 23, 0, tzinfo=UTC)
    assert friday_nights.active_at(friday_23h, "UTC")
    assert friday_nights.active_at(saturday_03h, "UTC")  # Friday's night, still
    assert not friday_nights.active_at(saturday_23h, "UTC")


@given(st.datetimes(timezones=st.just(UTC)))
def test_always_is_always(at: datetime) -> None:
    assert ALWAYS.active_at(at, "Asia/Shanghai")


def test_a_window_of_equal_ends_is_the_whole_day() -> None:
    assert TimeWindow(time(0, 0), time(0, 0)).contains(time(13, 37))


@pytest.mark.parametrize("text", ["7-22", "07:00", "25:00-26:00", "07:00-22:00-23:00"])
def test_malformed_windows_name_the_text(text: str) -> None:
    with pytest.raises(ValueError, match="time window"):
        TimeWindow.parse(text)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"kind": "market"}, "kind"),
        ({"sensitivity": 1.5}, "sensitivity"),
        ({"min_dwell_s": -1.0}, "min_dwell_s"),
        ({"classes": frozenset({"stall"})}, "classes"),
        ({"timezone": "Mars/Olympus"}, "time zone"),
    ],
)
def test_invalid_rules_name_the_field(changes: dict[str, object], field: str) -> None:
    with pytest.raises(ValueError, match=field):
        ZoneRule(1, "cam1", "market street", SQUARE, **changes)  # type: ignore[arg-type]


def test_an_empty_schedule_is_refused() -> None:
    with pytest.raises(ValueError, match="days"):
        Schedule(days=frozenset())


def test_default_classes_follow_the_kind() -> None:
    fire_lane = ZoneRule(1, "cam1", "lane", SQUARE, kind="fire_lane")
    assert "car" in fire_lane.counted_classes and "person" not in fire_lane.counted_classes
    vending = ZoneRule(2, "cam1", "street", SQUARE, kind="no_vending", classes=frozenset({"chair"}))
    assert vending.counted_classes == {"chair"}
