"""Free text (Chinese or English) → structured search: classes, attributes, cameras, zones, time.

Rules, not a model: each rule consumes the span it understood, so "公交车" is a bus and not also a
"车", and whatever no rule consumed is returned as `unparsed` for the caller to show. Times are
read in the caller's time zone relative to a given `now` and returned as UTC.

Zones are named as "zone NAME" / "in zone NAME" or "区域NAME" / "在NAME区域" (also "NAME区域");
a bare name is one word (in Chinese it ends at a blank, 的, 在 or punctuation), a quoted one
may hold anything: zone "car park", 区域“北 门”. The caller may pass the names its catalog knows
(`Places`: camera display names, zone names); those are read first, whole, so "东门" is the
camera called 东门 and "占道区域" the zone of that name. Other place names ("人民路", "东门口")
are read as places, so their characters never become class words ("人民路" is no person), and
are listed in `unparsed` since no filter uses them. Words the search cannot use are listed
there too: gender and age ("男子" finds persons; "男" is not an attribute), extra colours.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from index.catalog.attributes import AttributeFilter

MAX_TEXT_CHARS = 500

_ZH_COLOURS = {
    "红": "red", "橙": "orange", "黄": "yellow", "绿": "green", "蓝": "blue", "紫": "purple",
    "粉": "pink", "棕": "brown", "褐": "brown", "咖啡": "brown", "黑": "black", "白": "white",
    "灰": "grey", "银": "silver",
}  # fmt: skip
_EN_COLOURS = (
    "black", "white", "grey", "gray", "silver", "red", "orange", "yellow", "green", "blue",
    "purple", "pink", "brown",
)  # fmt: skip
_ZH_UPPER = "上衣|衣服|衬衫|衬衣|T恤|t恤|外套|夹克|卫衣|毛衣|背心|羽绒服|衣"
_ZH_LOWER = "牛仔裤|短裤|裤子|裙子|长裤|裤|裙"
_EN_UPPER = r"shirt|t-shirt|tshirt|top|jacket|coat|sweater|hoodie|blouse|vest|jumper|dress"
_EN_LOWER = r"trousers|pants|jeans|shorts|skirt|leggings"

# (pattern, classes) — longest and most specific first.
_CLASS_RULES: tuple[tuple[str, tuple[str, ...]], ...] = (
    (r"公交车|公交|大巴|巴士|客车|\bbus(?:es)?\b", ("bus",)),
    (r"卡车|货车|渣土车|\btrucks?\b|\blorr(?:y|ies)\b", ("truck",)),
    (r"面包车|\bvans?\b", ("car", "truck")),
    (r"皮卡|\bpick-?ups?\b", ("car", "truck")),
    (r"越野车|\bsuvs?\b", ("car",)),
    (r"摩托车|电动车|电瓶车|\bmotor(?:cycle|bike)s?\b|\bscooters?\b", ("motorcycle",)),
    (r"自行车|单车|\bbi(?:cycle|ke)s?\b", ("bicycle",)),
    (r"轿车|小汽车|汽车|小车|私家车|出租车|\bcars?\b|\bsedans?\b|\btaxis?\b", ("car",)),
    (r"车辆|车|\bvehicles?\b", ("bicycle", "car", "motorcycle", "bus", "truck")),
    (r"行人|人|\b(?:persons?|people|pedestrians?)\b", ("person",)),
)
# Person words that also say gender or age: they find persons, and are listed in `unparsed`
# because neither is an attribute (and gender stays out of scope).
_DESCRIBED_PERSON = (
    r"男子|男人|女子|女人|男性|女性|男生|女生|男孩|女孩|小孩|孩子|老人|"
    r"\b(?:man|men|woman|women|guys?|lady|ladies|child|children|kids?|boys?|girls?)\b"
)
_CARRIED_RULES: tuple[tuple[str, str], ...] = (
    (r"双肩包|背包|书包|\b(?:backpacks?|rucksacks?)\b", "backpack"),
    (r"行李箱|拉杆箱|旅行箱|箱子|\b(?:suitcases?|luggage)\b", "suitcase"),
    (r"雨伞|遮阳伞|伞|\bumbrellas?\b", "umbrella"),
    (r"手提包|挎包|手袋|提包|包包|\b(?:handbags?|purses?|bags?)\b", "handbag"),
)
_CARRY_VERB = r"(?:背着|拿着|提着|拉着|打着|撑着|带着|\b(?:carrying|holding|with)\s+(?:an?\s+)?)?"
_PLACE = (
    r"[^\s的在和与及从到往向去经过,，。、;；:：!！?？()（）\"“”'‘’「」]{1,4}"
    r"(?:大街|大道|路口|门口|广场|公园|小区|车站|胡同|路|街|巷|桥|站|门)(?!过)"
)
_ZH_DIGITS = {
    "一": 1,
    "二": 2,
    "两": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
}
_ZH_NUMBER = r"\d+|[一二两三四五六七八九十]+"
_ZH_PERIODS = {
    "凌晨": (0, 6), "早上": (6, 12), "早晨": (6, 12), "上午": (6, 12), "中午": (11, 14),
    "下午": (12, 18), "傍晚": (17, 20), "晚上": (18, 24), "夜里": (18, 24), "夜间": (18, 24),
}  # fmt: skip
_EN_PERIODS = {"morning": (6, 12), "noon": (11, 14), "afternoon": (12, 18), "evening": (18, 24)}
_EN_PERIODS["night"] = (18, 24)
_DAY_WORDS = {"前天": -2, "昨天": -1, "昨日": -1, "今天": 0, "今日": 0, "yesterday": -1, "today": 0}
_UNIT_S = {"小时": 3600, "分钟": 60, "天": 86400, "hour": 3600, "minute": 60, "day": 86400}
_STOP = re.compile(r"^(?:的|色|穿|穿着|着|在|和|与|及|a|an|the|in|on|at|with|wearing|and|of)$")


class TextQueryError(ValueError):
    """The text cannot be used as a query; the message names the problem."""


@dataclass(frozen=True)
class Places:
    """Names the caller's catalog knows (only what the caller may see): camera display names
    and zone names. Names shorter than `MIN_PLACE_CHARS` are not looked for in text."""

    camera_names: tuple[str, ...] = ()
    zone_names: tuple[str, ...] = ()


MIN_PLACE_CHARS = 2


@dataclass(frozen=True)
class TextQuery:
    """What a free-text query asks for; `camera_refs` (ids or numbers), `camera_names` (display
    names) and `zone_names` are resolved against the catalog later."""

    class_names: tuple[str, ...] = ()
    attributes: AttributeFilter = field(default_factory=AttributeFilter)
    camera_refs: tuple[str, ...] = ()
    camera_names: tuple[str, ...] = ()
    zone_names: tuple[str, ...] = ()
    start: datetime | None = None
    end: datetime | None = None
    unparsed: tuple[str, ...] = ()


def zh_number(text: str) -> int:
    """Arabic or Chinese numerals up to 99 ("3", "十二", "二十") as an int."""
    if text.isdigit():
        return int(text)
    if "十" in text:
        tens, _, ones = text.partition("十")
        return (_ZH_DIGITS[tens] if tens else 1) * 10 + (_ZH_DIGITS[ones] if ones else 0)
    return _ZH_DIGITS[text]


def resolve_zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise TextQueryError(f"timezone: {name!r} is not an IANA time zone name") from error


class _Scanner:
    """Text with consumed spans blanked out so that no two rules read the same characters."""

    def __init__(self, text: str) -> None:
        self.text = text

    def take(self, pattern: str) -> list[re.Match[str]]:
        matches = list(re.finditer(pattern, self.text, flags=re.IGNORECASE))
        for match in matches:
            start, end = match.span()
            self.text = self.text[:start] + " " * (end - start) + self.text[end:]
        return matches

    def leftover(self) -> tuple[str, ...]:
        words = re.findall(r"[A-Za-z0-9'-]+|[^\sA-Za-z0-9'.,，。、!?！？;；:：-]+", self.text)
        return tuple(w for w in words if not _STOP.match(w.lower()))


def _colour_word(text: str) -> str:
    word = text.lower().rstrip("色")
    return _ZH_COLOURS.get(word, "grey" if word == "gray" else word)


def _parse_cameras(scanner: _Scanner) -> tuple[str, ...]:
    refs = [
        str(zh_number(m.group(1)))
        for m in scanner.take(rf"({_ZH_NUMBER})\s*号\s*(?:摄像头|摄像机|相机|镜头|机位|探头)")
    ]
    refs += [
        str(zh_number(m.group(1)))
        for m in scanner.take(rf"(?:摄像头|摄像机|相机|镜头)\s*({_ZH_NUMBER})")
    ]
    refs += [m.group(1) for m in scanner.take(r"\b(?:camera|cam)\s*#?\s*([A-Za-z0-9_.-]+)")]
    return tuple(dict.fromkeys(refs))


_QUOTED = r'"([^"]{1,100})"|“([^”]{1,100})”|\'([^\']{1,100})\'|‘([^’]{1,100})’|「([^」]{1,100})」'
_EN_WORD = r"([^\s,，。、;；:：!！?？()（）\"“”'‘’「」]{1,100})"
_ZH_WORD = r"[^\s的在,，。、;；:：!！?？()（）\"“”'‘’「」]"
# Quoted names are read first (before any other rule can take words out of them); bare names
# after cameras and times, so that "3号摄像头入口区域" and "昨天下午入口区域" name "入口".
_QUOTED_ZONE_RULES = (
    rf"\b(?:in\s+)?zone\s*(?:{_QUOTED})",
    rf"在?\s*(?:{_QUOTED})\s*区域",
    rf"区域\s*(?:{_QUOTED})",
)
_BARE_ZONE_RULES = (
    rf"\b(?:in\s+)?zone\s+{_EN_WORD}",
    rf"在\s*({_ZH_WORD}{{1,100}}?)\s*区域",
    rf"({_ZH_WORD}{{1,100}})区域",
    rf"区域\s*({_ZH_WORD}{{1,100}})",
)


def _parse_known(scanner: _Scanner, places: Places) -> tuple[list[str], list[str]]:
    """(camera names, zone names) the text contains whole, longest first."""
    named: list[tuple[str, str]] = [(name, "camera") for name in places.camera_names]
    named += [(name, "zone") for name in places.zone_names]
    named = [(n.strip(), kind) for n, kind in named if len(n.strip()) >= MIN_PLACE_CHARS]
    cameras: list[str] = []
    zones: list[str] = []
    for name, kind in sorted(named, key=lambda entry: -len(entry[0])):
        if scanner.take(re.escape(name)):
            (cameras if kind == "camera" else zones).append(name)
    return cameras, zones


def _parse_carried(scanner: _Scanner) -> list[str]:
    """Carried objects named, in the order of their rules."""
    return [name for rule, name in _CARRIED_RULES if scanner.take(rf"{_CARRY_VERB}(?:{rule})")]


def _parse_zones(scanner: _Scanner, rules: tuple[str, ...]) -> list[str]:
    return [
        next(group for group in match.groups() if group).strip()
        for rule in rules
        for match in scanner.take(rule)
    ]


def _day_start(local_now: datetime, offset_days: int) -> datetime:
    day = (local_now + timedelta(days=offset_days)).date()
    return datetime(day.year, day.month, day.day, tzinfo=local_now.tzinfo)


def _parse_time(scanner: _Scanner, now: datetime, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The window the text names, or (now - 0, now) sentinel when it names none."""
    local_now = now.astimezone(zone)
    recent = scanner.take(
        rf"(?:最近|过去|近)\s*({_ZH_NUMBER})\s*(?:个)?\s*(小时|分钟|天)(?:内|以内)?"
        r"|\b(?:last|past)\s+(\d+)\s+(hour|minute|day)s?\b"
    )
    if recent:
        match = recent[0]
        amount = zh_number(match.group(1) or match.group(3))
        unit_s = _UNIT_S[(match.group(2) or match.group(4)).lower()]
        return now - timedelta(seconds=amount * unit_s), now
    offset_days: int | None = None
    hours: tuple[int, int] | None = None
    for word, (first, last) in (("昨晚", (-1, 18)), ("今晚", (0, 18)), ("今早", (0, 6))):
        if scanner.take(word):
            offset_days, hours = first, (last, last + 6)
    if scanner.take(r"\blast\s+night\b"):
        offset_days, hours = -1, (18, 24)
    if scanner.take(r"\bthis\s+morning\b"):
        offset_days, hours = 0, (6, 12)
    for word, days in _DAY_WORDS.items():
        if scanner.take(rf"\b{word}\b" if word.isascii() else word):
            offset_days = days
    period_words = "|".join([*_ZH_PERIODS, *(rf"\b{w}\b" for w in _EN_PERIODS)])
    periods = scanner.take(period_words)
    if periods:
        word = periods[0].group(0).lower()
        hours = _ZH_PERIODS.get(word) or _EN_PERIODS[word]
    clock = scanner.take(rf"({_ZH_NUMBER})\s*(?:点|时)(半)?|\b(\d{{1,2}})\s*(am|pm)\b")
    if clock:
        match = clock[0]
        hour = zh_number(match.group(1) or match.group(3))
        afternoon = (match.group(4) or "").lower() == "pm" or (hours is not None and hours[0] >= 12)
        hour = hour + 12 if afternoon and hour < 12 else hour
        if not 0 <= hour <= 23:
            raise TextQueryError(f"text: {match.group(0)!r} is not a time of day")
        minute = 30 if match.group(2) else 0
        start = _day_start(local_now, offset_days or 0) + timedelta(hours=hour, minutes=minute)
        return start.astimezone(UTC), (start + timedelta(hours=1)).astimezone(UTC)
    if offset_days is None and hours is None:
        return now, now
    first_hour, last_hour = hours or (0, 24)
    day = _day_start(local_now, offset_days or 0)
    return (
        (day + timedelta(hours=first_hour)).astimezone(UTC),
        (day + timedelta(hours=last_hour)).astimezone(UTC),
    )


def _parse_garments(scanner: _Scanner) -> dict[str, str]:
    zh_colour = "|".join(_ZH_COLOURS)
    en_colour = "|".join(_EN_COLOURS)
    found: dict[str, str] = {}
    for key, zh, en in (
        ("upper_colour", _ZH_UPPER, _EN_UPPER),
        ("lower_colour", _ZH_LOWER, _EN_LOWER),
    ):
        for match in scanner.take(
            rf"({zh_colour})色?的?(?:{zh})|\b({en_colour})(?:\s+[a-z-]+)?\s+(?:{en})s?\b"
        ):
            found.setdefault(key, _colour_word(match.group(1) or match.group(2)))
    return found


def _parse_classes(scanner: _Scanner) -> tuple[tuple[str, ...], list[str]]:
    """Classes named, and colours written right before a class word."""
    classes: dict[str, None] = {}
    colours: list[str] = []
    colour_prefix = rf"(?:({'|'.join(_ZH_COLOURS)})色?的?|\b({'|'.join(_EN_COLOURS)})\s+)?"
    for pattern, names in _CLASS_RULES:
        for match in scanner.take(rf"{colour_prefix}(?:{pattern})"):
            classes.update(dict.fromkeys(names))
            if match.group(1) or match.group(2):
                colours.append(_colour_word(match.group(1) or match.group(2)))
    return tuple(classes), colours


_MOVING = r"\b(?:going|heading|moving|walking|driving|travell?ing)\s+"
_DIRECTION_RULES: tuple[tuple[str, str, str], ...] = (
    (r"向左|往左|朝左", rf"{_MOVING}(?:to\s+the\s+)?left\b", "W"),
    (r"向右|往右|朝右", rf"{_MOVING}(?:to\s+the\s+)?right\b", "E"),
    (r"远离镜头|走远", rf"{_MOVING}away\b", "N"),
    (r"朝向镜头|走近", rf"{_MOVING}towards?\s+(?:the\s+)?camera\b", "S"),
)
_COMPASS_RULES: tuple[tuple[str, str, str], ...] = (
    (r"向东北|往东北", r"\bnorth-?east(?:bound)?\b", "NE"),
    (r"向西北|往西北", r"\bnorth-?west(?:bound)?\b", "NW"),
    (r"向东南|往东南", r"\bsouth-?east(?:bound)?\b", "SE"),
    (r"向西南|往西南", r"\bsouth-?west(?:bound)?\b", "SW"),
    (r"向北|往北|北行", r"\bnorth(?:bound)?\b", "N"),
    (r"向南|往南|南行", r"\bsouth(?:bound)?\b", "S"),
    (r"向东|往东|东行", r"\beast(?:bound)?\b", "E"),
    (r"向西|往西|西行", r"\bwest(?:bound)?\b", "W"),
)


def _parse_motion(scanner: _Scanner) -> tuple[str | None, str | None, bool | None]:
    """Image-space direction, compass heading and stationary flag the text asks for."""
    direction = compass = None
    for zh, en, sector in _DIRECTION_RULES:
        if scanner.take(f"{zh}|{en}"):
            direction = direction or sector
    for zh, en, sector in _COMPASS_RULES:
        if scanner.take(f"{zh}|{en}"):
            compass = compass or sector
    stationary = None
    if scanner.take(r"停留|静止|停着|停放|\b(?:stationary|parked|standing\s+still|loitering)\b"):
        stationary = True
    return direction, compass, stationary


def parse_text_query(
    text: str, now: datetime, timezone: str = "UTC", places: Places | None = None
) -> TextQuery:
    """Parse `text`; `now` must be timezone-aware, `timezone` is the caller's IANA zone,
    `places` the camera and zone names the caller may see."""
    if not text or not text.strip():
        raise TextQueryError("text: the query is empty")
    if len(text) > MAX_TEXT_CHARS:
        raise TextQueryError(f"text: longer than {MAX_TEXT_CHARS} characters")
    if now.tzinfo is None or now.utcoffset() is None:
        raise TextQueryError("now: must carry a time zone offset")
    zone = resolve_zone(timezone)
    scanner = _Scanner(text)
    zone_names = _parse_zones(scanner, _QUOTED_ZONE_RULES)
    camera_names, known_zones = _parse_known(scanner, places or Places())
    zone_names += known_zones
    camera_refs = _parse_cameras(scanner)
    start, end = _parse_time(scanner, now, zone)
    zone_names += _parse_zones(scanner, _BARE_ZONE_RULES)
    unused = [match.group(0) for match in scanner.take(_PLACE)]
    direction, compass, stationary = _parse_motion(scanner)
    garments = _parse_garments(scanner)
    carried = _parse_carried(scanner)
    described = [match.group(0) for match in scanner.take(_DESCRIBED_PERSON)]
    class_names, class_colours = _parse_classes(scanner)
    loose = [_colour_word(m.group(0)) for m in scanner.take(
        rf"(?:{'|'.join(_ZH_COLOURS)})色?|\b(?:{'|'.join(_EN_COLOURS)})\b"
    )]  # fmt: skip
    colours = class_colours + loose
    if (described or garments or carried) and not class_names:
        class_names = ("person",)
    elif described and "person" not in class_names:
        class_names = (*class_names, "person")
    is_person = class_names == ("person",)
    if is_person and colours and "upper_colour" not in garments:
        garments["upper_colour"] = colours.pop(0)
    kept_colours = 0 if is_person else 1
    unused += [*described, *colours[kept_colours:], *carried[1:]]
    attributes = AttributeFilter(
        colour=None if is_person or not colours else colours[0],
        upper_colour=garments.get("upper_colour"),
        lower_colour=garments.get("lower_colour"),
        direction=direction,
        compass=compass,
        stationary=stationary,
        carrying=carried[0] if carried else None,
    )
    has_window = start != end
    return TextQuery(
        class_names=class_names,
        attributes=attributes,
        camera_refs=camera_refs,
        camera_names=tuple(dict.fromkeys(camera_names)),
        zone_names=tuple(dict.fromkeys(zone_names)),
        start=start if has_window else None,
        end=end if has_window else None,
        unparsed=(*unused, *scanner.leftover()),
    )
