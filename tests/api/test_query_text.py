"""Free-text query parser: Chinese and English descriptions → classes, attributes, cameras, time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from search_api.query_text import Places, TextQueryError, parse_text_query, zh_number

# 2026-11-25 14:00 in Shanghai (UTC+8).
NOW = datetime(2026, 11, 25, 6, 0, tzinfo=UTC)
SHANGHAI = "Asia/Shanghai"


def local(day: int, hour: int) -> datetime:
    """UTC time of 2026-11-`day` `hour`:00 Shanghai time."""
    return datetime(2026, 11, day, hour, tzinfo=UTC) - timedelta(hours=8)


def test_red_sedan_in_chinese() -> None:
    query = parse_text_query("红色轿车", NOW, SHANGHAI)
    assert query.class_names == ("car",)
    assert query.attributes.wanted() == {"colour": "red"}
    assert (query.start, query.end, query.camera_refs, query.unparsed) == (None, None, (), ())


def test_clothing_colours_in_english_imply_a_person() -> None:
    query = parse_text_query("white shirt black trousers", NOW)
    assert query.class_names == ("person",)
    assert query.attributes.wanted() == {"upper_colour": "white", "lower_colour": "black"}


def test_man_in_white_yesterday_afternoon_on_camera_3() -> None:
    query = parse_text_query("穿白衣服的男子 昨天下午 3号摄像头", NOW, SHANGHAI)
    assert query.class_names == ("person",)
    assert query.attributes.wanted() == {"upper_colour": "white"}
    assert query.camera_refs == ("3",)
    assert (query.start, query.end) == (local(24, 12), local(24, 18))
    assert query.unparsed == ("男子",)  # persons are searched; gender is not, and says so


def test_the_same_words_in_another_time_zone_give_another_window() -> None:
    utc = parse_text_query("昨天下午", NOW, "UTC")
    assert (utc.start, utc.end) == (
        datetime(2026, 11, 24, 12, tzinfo=UTC),
        datetime(2026, 11, 24, 18, tzinfo=UTC),
    )


@pytest.mark.parametrize(
    ("text", "start", "end"),
    [
        ("今天上午10点", local(25, 10), local(25, 11)),
        ("yesterday 3pm", local(24, 15), local(24, 16)),
        ("前天晚上", local(23, 18), local(24, 0)),
        ("last night", local(24, 18), local(25, 0)),
        ("最近3小时", NOW - timedelta(hours=3), NOW),
        ("past 2 days", NOW - timedelta(days=2), NOW),
        ("today", local(25, 0), local(26, 0)),
    ],
)
def test_time_words(text: str, start: datetime, end: datetime) -> None:
    query = parse_text_query(text, NOW, SHANGHAI)
    assert (query.start, query.end) == (start, end)


def test_mixed_description_with_direction_and_camera() -> None:
    query = parse_text_query("a woman in a grey hoodie and blue jeans going left on cam 12", NOW)
    assert query.class_names == ("person",)
    assert query.attributes.wanted() == {
        "upper_colour": "grey", "lower_colour": "blue", "direction": "W",
    }  # fmt: skip
    assert query.camera_refs == ("12",)


def test_vehicle_words_are_not_read_twice() -> None:
    bus = parse_text_query("黄色公交车 向北", NOW)
    assert bus.class_names == ("bus",)
    assert bus.attributes.wanted() == {"colour": "yellow", "compass": "N"}
    any_vehicle = parse_text_query("银色的车 停着", NOW)
    assert set(any_vehicle.class_names) == {"bicycle", "car", "motorcycle", "bus", "truck"}
    assert any_vehicle.attributes.colour == "silver" and any_vehicle.attributes.stationary is True


def test_words_not_understood_are_reported() -> None:
    query = parse_text_query("red car with a dented bumper", NOW)
    assert query.class_names == ("car",) and query.attributes.colour == "red"
    assert query.unparsed == ("dented", "bumper")


def test_chinese_numerals() -> None:
    assert [zh_number(t) for t in ("3", "三", "十", "十二", "二十", "二十一")] == [
        3,
        3,
        10,
        12,
        20,
        21,
    ]
    assert parse_text_query("十二号摄像头", NOW).camera_refs == ("12",)


@pytest.mark.parametrize(
    ("text", "now", "zone", "message"),
    [
        ("", NOW, "UTC", "text: the query is empty"),
        ("x" * 501, NOW, "UTC", "text: longer than 500"),
        ("red car", NOW.replace(tzinfo=None), "UTC", "now: must carry a time zone"),
        ("red car", NOW, "Mars/Olympus", "timezone: 'Mars/Olympus'"),
        ("25点", NOW, "UTC", "is not a time of day"),
    ],
)
def test_bad_input_names_the_problem(text: str, now: datetime, zone: str, message: str) -> None:
    with pytest.raises(TextQueryError, match=message.replace("(", r"\(")):
        parse_text_query(text, now, zone)


@pytest.mark.parametrize(
    ("text", "zones", "classes", "cameras"),
    [
        ("red car in zone entrance", ("entrance",), ("car",), ()),
        ('white car zone "car park", cam 2', ("car park",), ("car",), ("2",)),
        ("zone gate-1 or zone gate-2", ("gate-1", "gate-2"), (), ()),
        ("在入口区域的红色轿车", ("入口",), ("car",), ()),
        ("穿白衣服的男子在停车场区域", ("停车场",), ("person",), ()),
        ("区域北门 穿白衣服的男子", ("北门",), ("person",), ()),
        ("3号摄像头入口区域的人", ("入口",), ("person",), ("3",)),
        ("区域“北 门”的红色轿车", ("北 门",), ("car",), ()),
    ],
)
def test_zone_names_in_english_and_chinese(
    text: str, zones: tuple[str, ...], classes: tuple[str, ...], cameras: tuple[str, ...]
) -> None:
    query = parse_text_query(text, NOW)
    assert query.zone_names == zones
    assert query.class_names == classes and query.camera_refs == cameras
    assert set(query.unparsed) <= {"or", "男子"}


def test_zone_names_are_not_read_as_other_words() -> None:
    """A named zone's words are the zone's, not a class, colour or time."""
    query = parse_text_query('person in zone "red car park" yesterday', NOW, SHANGHAI)
    assert query.zone_names == ("red car park",)
    assert query.class_names == ("person",) and query.attributes.is_empty()
    assert (query.start, query.end) == (local(24, 0), local(25, 0))
    assert parse_text_query("昨天下午入口区域", NOW, SHANGHAI).zone_names == ("入口",)
    assert parse_text_query("红色轿车", NOW).zone_names == ()
    assert parse_text_query("区域", NOW).unparsed == ("区域",)  # no name: not a zone


def test_gender_and_age_words_find_persons_and_are_listed_as_unused() -> None:
    query = parse_text_query("男子", NOW)
    assert (query.class_names, query.unparsed) == (("person",), ("男子",))
    query = parse_text_query("old woman in a red coat", NOW)
    assert query.class_names == ("person",) and query.attributes.upper_colour == "red"
    assert "woman" in query.unparsed and "old" in query.unparsed


def test_place_names_are_not_class_words() -> None:
    query = parse_text_query("人民路上的红色轿车", NOW)
    assert query.class_names == ("car",) and query.attributes.colour == "red"
    assert query.unparsed[0] == "人民路"  # a place no camera or zone is called: not used
    query = parse_text_query("在人民路的蓝衣服男子", NOW)
    assert query.class_names == ("person",) and query.attributes.upper_colour == "blue"
    assert "人民路" in query.unparsed
    assert parse_text_query("火车站的人", NOW).class_names == ("person",)  # 车 is in a place


def test_known_camera_and_zone_names_are_read_whole() -> None:
    places = Places(camera_names=("东门", "Main Gate"), zone_names=("占道区域", "car park"))
    query = parse_text_query("东门 占道区域的人", NOW, places=places)
    assert query.camera_names == ("东门",) and query.zone_names == ("占道区域",)
    assert query.class_names == ("person",) and query.unparsed == ()
    query = parse_text_query("red car at main gate in the car park", NOW, places=places)
    assert query.camera_names == ("Main Gate",) and query.zone_names == ("car park",)
    assert query.class_names == ("car",)
    # without the catalog's names, 东门 is an unknown place and 占道区域 the bare zone 占道
    query = parse_text_query("东门 占道区域的人", NOW)
    assert query.camera_names == () and query.zone_names == ("占道",)
    assert query.unparsed == ("东门",)


@pytest.mark.parametrize(
    ("text", "carried"),
    [
        ("背着双肩包的人", "backpack"),
        ("拉着行李箱的女子", "suitcase"),
        ("打伞的人", "umbrella"),
        ("man carrying a backpack", "backpack"),
        ("someone with an umbrella", "umbrella"),
        ("红色手提包", "handbag"),
    ],
)
def test_carried_objects_are_attributes_of_persons(text: str, carried: str) -> None:
    query = parse_text_query(text, NOW)
    assert query.attributes.carrying == carried
    assert query.class_names == ("person",)


def test_colours_and_carried_objects_beyond_the_filter_are_listed() -> None:
    query = parse_text_query("红色蓝色轿车", NOW)
    assert query.attributes.colour == "blue" and query.unparsed == ("red",)  # nearest the class
    query = parse_text_query("背包和雨伞的人", NOW)
    assert query.attributes.carrying == "backpack" and "umbrella" in query.unparsed
