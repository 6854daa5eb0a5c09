"""Request and response schemas of the API (separate from the catalog's ORM rows)."""

from __future__ import annotations

from dataclasses import asdict, fields
from datetime import datetime
from typing import Any, Literal

from pydantic import (
    BaseModel,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from detect.detections import COCO_CLASSES
from detect.zone_rules import check_timezone
from index.catalog.attributes import AttributeFilter, normalise_term
from index.catalog.hops import HopVerdict
from index.catalog.values import TILES_PATTERN
from index.catalog.zones import MAX_ZONE_NAME_CHARS, check_polygon, check_zone_name
from ingest.camera_status import CameraStatus
from search_api.event_schemas import ZoneRuleOut
from search_api.openapi import (
    CarriedName,
    CatalogId,
    ColourName,
    DirectionName,
    SearchTime,
    SectorName,
    VehicleTypeName,
)


class ZoneRef(BaseModel):
    """A zone named in a query or passed through by a hit."""

    id: int
    name: str
    camera_id: str


class MatchReason(BaseModel):
    """Why a track was returned: appearance similarity, matched attributes and zones, travel
    plausibility."""

    similarity: float | None = Field(
        default=None, description="cosine similarity of appearance to the query, 1 = identical"
    )
    matched_attributes: dict[str, float] = Field(
        default_factory=dict, description="attribute → stored confidence, for each one asked for"
    )
    plausibility: float | None = Field(
        default=None, description="cross-camera travel-time prior in [0, 1] (hop search)"
    )
    zones: list[ZoneRef] = Field(
        default_factory=list, description="zones of the query's zone filter the track entered"
    )


NO_GOOD_MATCH = (
    "appearance searches of persons: true when no hit's confidence reaches the calibrated"
    " threshold (the person may never have been filmed); null where uncalibrated"
)

CLIP_AVAILABLE = (
    "false: no recording covers it (clip_url is null): retention deleted it, or it was seen in"
    " a recording gap, such as before the camera's recording started"
)


class SearchHit(BaseModel):
    """One track found by a search, with where and when it was seen and links to look at it."""

    track_id: int
    camera_id: str
    class_name: str
    start_at: datetime
    end_at: datetime
    score: float = Field(
        description=(
            "what the hits are ranked by, 0..1, higher is better: cosine similarity of appearance"
            " (picture, track searches; = why.similarity), similarity × travel plausibility (hop"
            " candidates; 1 for the trail itself), the product of the matched attributes'"
            " confidences (attribute and text searches), 1 − edits per plate character (plate"
            " searches); `why` holds the parts"
        )
    )
    confidence: float | None = Field(
        default=None,
        description=(
            "appearance searches of persons: the share of hits at this score that were the same"
            " person on a labelled split (calibrated; issue #16); null where uncalibrated"
        ),
    )
    thumbnail_url: str | None
    clip_url: str | None = Field(description="recording that starts at the moment (#t=offset)")
    clip_available: bool = Field(default=True, description=CLIP_AVAILABLE)
    best_shot_at: datetime | None = None
    attributes: dict[str, Any] = Field(default_factory=dict)
    why: MatchReason = Field(default_factory=MatchReason)


class QueryInfo(BaseModel):
    class_name: str
    box: tuple[float, float, float, float] | None


class SearchResponse(BaseModel):
    query: QueryInfo
    hits: list[SearchHit]
    no_good_match: bool | None = Field(default=None, description=NO_GOOD_MATCH)


class TrackOut(BaseModel):
    id: int
    camera_id: str
    class_name: str
    confidence: float
    start_at: datetime
    end_at: datetime
    best_shot_at: datetime
    best_box: tuple[float, float, float, float]
    attributes: dict[str, Any]
    trajectory: list[list[float]]
    frame_size_px: tuple[int, int] | None = Field(
        default=None,
        description="width, height of the analysed frame: the pixels of best_box and trajectory",
    )
    embedding_version: str | None
    thumbnail_url: str | None
    context_url: str | None = Field(description="the whole scene at the best shot")
    clip_url: str | None
    clip_available: bool = Field(default=True, description=CLIP_AVAILABLE)


class CameraOut(BaseModel):
    """A camera as the API shows it: stream credentials are never returned."""

    id: str
    name: str
    main_url: str = Field(description="with user and password removed")
    sub_url: str | None = Field(description="with user and password removed")
    detect_fps: float
    lat: float | None
    lon: float | None
    heading_deg: float | None
    enabled: bool
    tiles: str = Field(description="detector tiling COLSxROWS; 1x1: full frame only")
    timezone: str | None = Field(
        default=None, description="IANA time zone of zone schedules; null: the server's default"
    )
    kind: str = Field(
        default="live", description="live (a stream) or offline (uploaded footage, no URLs)"
    )


STREAM_URL_PATTERN = r"^[A-Za-z][A-Za-z0-9+.-]*://\S+$"  # schemes: values.camera_url_allowed
TILES_DESCRIPTION = (
    "detector tiling COLSxROWS (1-3 each): the frame is also detected in that many overlapping"
    " tiles, finding small, distant objects at (1 + cols·rows)× the detector cost"
)

TIMEZONE_DESCRIPTION = (
    "IANA time zone the camera's zone schedules are in (Asia/Shanghai); null: the server's"
    " SKYNET_TIMEZONE"
)


def known_timezone(value: str | None) -> str | None:
    return None if value is None else check_timezone(value)


class CameraIn(BaseModel):
    """A camera to add; the main stream is recorded, the sub stream (if any) analysed."""

    model_config = {"extra": "forbid"}

    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$", examples=["gate-1"])
    name: str = Field(min_length=1, max_length=200, examples=["Gate 1, north"])
    main_url: str = Field(pattern=STREAM_URL_PATTERN, max_length=2000)
    sub_url: str | None = Field(default=None, pattern=STREAM_URL_PATTERN, max_length=2000)
    detect_fps: float = Field(default=5.0, gt=0, le=30)
    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)
    heading_deg: float | None = Field(default=None, ge=0, lt=360)
    enabled: bool = True
    tiles: str = Field(
        default="1x1",
        pattern=TILES_PATTERN.pattern,
        description=TILES_DESCRIPTION,
        examples=["2x2"],
    )
    timezone: str | None = Field(
        default=None, max_length=64, description=TIMEZONE_DESCRIPTION, examples=["Asia/Shanghai"]
    )

    _known_timezone = field_validator("timezone")(known_timezone)


class CameraPatch(BaseModel):
    """Fields to change; omitted fields keep their value, `null` clears optional ones."""

    model_config = {"extra": "forbid"}

    name: str | None = Field(default=None, min_length=1, max_length=200)
    main_url: str | None = Field(default=None, pattern=STREAM_URL_PATTERN, max_length=2000)
    sub_url: str | None = Field(default=None, pattern=STREAM_URL_PATTERN, max_length=2000)
    detect_fps: float | None = Field(default=None, gt=0, le=30)
    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)
    heading_deg: float | None = Field(default=None, ge=0, lt=360)
    enabled: bool | None = None
    tiles: str | None = Field(
        default=None, pattern=TILES_PATTERN.pattern, description=TILES_DESCRIPTION
    )
    timezone: str | None = Field(default=None, max_length=64, description=TIMEZONE_DESCRIPTION)

    _known_timezone = field_validator("timezone")(known_timezone)


class CameraStatusOut(BaseModel):
    """Live state of one camera's ingest and analysis."""

    camera_id: str
    state: str = Field(
        description="connecting, online, reconnecting, offline, paused, stopped; footage for "
        "an offline camera (uploaded footage)"
    )
    input_fps: float = 0.0
    analysed_fps: float = 0.0
    frames_sampled: int = 0
    frames_gated: int = Field(default=0, description="skipped by the motion gate")
    frames_dropped: int = Field(default=0, description="dropped because analysis fell behind")
    sample_stride: float = Field(
        default=1.0,
        description="> 1 while analysis sheds load: frames sampled at detect_fps / stride",
    )
    corrupt_packets: int = 0
    lag_s: float = Field(default=0.0, description="frame seen → analysed, last frame")
    reconnects: int = 0
    last_error: str = ""
    spool_pending_segments: int = 0
    spool_dropped_segments: int = Field(default=0, description="lost: spool limit reached")
    storage_down: bool = False

    @classmethod
    def of(cls, status: CameraStatus) -> CameraStatusOut:
        return cls(**asdict(status))


class ZoneIn(BaseModel):
    """A named region of a camera's image; a track is in it when its feet (the bottom centre
    of its box) enter the polygon."""

    model_config = {"extra": "forbid"}

    name: str = Field(min_length=1, max_length=MAX_ZONE_NAME_CHARS, examples=["entrance"])
    polygon: list[tuple[float, float]] = Field(
        description="vertices [x, y] as fractions of the image width and height, origin top left",
        examples=[[[0.1, 0.6], [0.9, 0.6], [0.9, 1.0], [0.1, 1.0]]],
    )

    @field_validator("name")
    @classmethod
    def _named(cls, value: str) -> str:
        return check_zone_name(value)

    @field_validator("polygon")
    @classmethod
    def _valid_polygon(cls, value: list[tuple[float, float]]) -> list[tuple[float, float]]:
        return list(check_polygon(value))


class ZoneOut(BaseModel):
    id: int
    camera_id: str
    name: str
    polygon: list[tuple[float, float]]
    track_count: int = Field(description="stored tracks that passed through it")
    rule: ZoneRuleOut = Field(description="what the zone forbids (set it at .../rule)")
    created_at: datetime
    updated_at: datetime


class Health(BaseModel):
    status: str
    tracks_indexed: int


# ---- search requests -------------------------------------------------------------------------


class SearchFiltersIn(BaseModel):
    """Filters every search type accepts; unknown values fail with 422 naming the field."""

    camera_ids: list[str] | None = Field(default=None, description="None: every visible camera")
    start: SearchTime | None = Field(default=None, description="UTC or with offset")
    end: SearchTime | None = None
    classes: list[str] | None = Field(default=None, description="COCO class names")
    colour: ColourName | None = Field(default=None, description="vehicle colour, e.g. red")
    vehicle_type: VehicleTypeName | None = Field(
        default=None, description="car, bus, truck, motorcycle…"
    )
    upper_colour: ColourName | None = Field(default=None, description="person's upper-body colour")
    lower_colour: ColourName | None = Field(default=None, description="person's lower-body colour")
    direction: DirectionName | None = Field(
        default=None, description="image-space heading: E (right), N (up), W, S, NE…, none"
    )
    compass: SectorName | None = Field(
        default=None, description="map heading N, NE, … (needs camera heading)"
    )
    stationary: bool | None = None
    carrying: CarriedName | None = Field(
        default=None, description="person seen carrying a backpack, handbag, suitcase or umbrella"
    )
    min_dwell_s: float | None = Field(default=None, ge=0.0, description="seconds in view, at least")
    max_dwell_s: float | None = Field(default=None, ge=0.0, description="seconds in view, at most")
    min_speed_px_s: float | None = Field(
        default=None, ge=0.0, description="mean ground-point speed, image pixels per second"
    )
    max_speed_px_s: float | None = Field(default=None, ge=0.0)
    min_confidence: float = Field(
        default=0.0, ge=0.0, le=1.0, description="stored confidence each named attribute needs"
    )
    zone_ids: list[CatalogId] | None = Field(
        default=None, description="tracks that passed through any of these zones (zone ids)"
    )

    @field_validator("classes")
    @classmethod
    def _known_classes(cls, value: list[str] | None) -> list[str] | None:
        if value is not None:
            unknown = sorted(set(value) - set(COCO_CLASSES))
            if unknown or not value:
                raise ValueError(f"unknown or empty class list {unknown}")
        return value

    @field_validator(
        "colour", "upper_colour", "lower_colour", "vehicle_type", "direction", "compass"
    )
    @classmethod
    def _known_term(cls, value: str | None, info: ValidationInfo) -> str | None:
        return None if value is None else normalise_term(str(info.field_name), value)

    @model_validator(mode="after")
    def _ordered_window(self) -> SearchFiltersIn:
        if self.start and self.end and self.end <= self.start:
            raise ValueError("end: must be after start")
        self.attribute_filter()  # ValueError naming the field, e.g. a maximum below its minimum
        return self

    def attribute_filter(self) -> AttributeFilter:
        """The attribute part of the request."""
        return AttributeFilter(**{f.name: getattr(self, f.name) for f in fields(AttributeFilter)})


class AccessIn(BaseModel):
    """Case and purpose: required for searches of persons or plates."""

    case_id: str | None = Field(default=None, max_length=64)
    purpose: str | None = Field(default=None, max_length=2000)


class AttributeSearchRequest(SearchFiltersIn, AccessIn):
    top_k: int = Field(default=50, ge=1, le=1000)
    offset: int = Field(default=0, ge=0)


class TrackSearchRequest(SearchFiltersIn, AccessIn):
    top_k: int = Field(default=20, ge=1, le=500)


TEXT_TIMEZONE_DESCRIPTION = (
    "IANA zone the text's times (今天, yesterday afternoon) are read in; null: the server's"
    " SKYNET_TIMEZONE"
)


class TextSearchRequest(AccessIn):
    text: str = Field(min_length=1, max_length=500, examples=["穿白衣服的男子 今天 2号摄像头"])
    now: SearchTime | None = Field(default=None, description="reference time; default: now")
    timezone: str | None = Field(default=None, description=TEXT_TIMEZONE_DESCRIPTION)
    top_k: int = Field(default=50, ge=1, le=1000)


class ParsedText(BaseModel):
    """What the text was understood as."""

    classes: list[str]
    attributes: dict[str, Any]
    camera_ids: list[str]
    zones: list[ZoneRef] = Field(
        default_factory=list, description="zones the text named, resolved on its cameras"
    )
    start: datetime | None
    end: datetime | None
    unparsed: list[str]


class HitsPage(BaseModel):
    hits: list[SearchHit]
    no_good_match: bool | None = Field(default=None, description=NO_GOOD_MATCH)
    offset: int = 0
    total: int | None = Field(default=None, description="matches in all (attribute search)")


class TextSearchResponse(BaseModel):
    parsed: ParsedText
    hits: list[SearchHit]


# ---- hop search ------------------------------------------------------------------------------


class HopRequest(AccessIn):
    """A seed track, the sightings the investigator confirmed and those rejected so far. With
    `case_id`, the case's hop decisions (PUT /cases/{case_id}/hops) count as well."""

    track_id: CatalogId
    confirmed: list[CatalogId] = Field(default_factory=list, max_length=200)
    rejected: list[CatalogId] = Field(default_factory=list, max_length=1000)
    top_k: int = Field(default=10, ge=1, le=100)
    max_distance_m: float = Field(default=3000.0, gt=0, le=100_000)


class HopCandidate(SearchHit):
    direction: str = Field(description="forward: after the trail; backward: before it")
    from_track_id: int
    expected_transit_s: float
    transit_s: float
    distance_m: float
    decision: HopVerdict | None = Field(
        default=None,
        description=(
            "rejected: the request's case rejected this sighting against one on the trail; such"
            " candidates are ranked after every undecided one (ids in `rejected` are left out)."
            " Confirmed sightings join the trail instead. null: undecided"
        ),
    )


class HopTrailHit(SearchHit):
    decision: HopVerdict | None = Field(
        default=None,
        description="confirmed: in `confirmed` or linked to the seed by the case's confirmed hops;"
        " null: the seed",
    )


class HopResponse(BaseModel):
    trail: list[HopTrailHit] = Field(
        description="seed and confirmed sightings in time order (with `case_id`: also those the"
        " case's confirmed hops link to the seed)"
    )
    candidates: list[HopCandidate]


# ---- cases and jobs --------------------------------------------------------------------------


class CaseCreate(BaseModel):
    title: str = Field(min_length=1, max_length=300)


class CaseOut(BaseModel):
    id: str
    title: str
    created_by: str
    created_at: datetime
    closed_at: datetime | None
    is_open: bool


class SearchJobRequest(SearchFiltersIn, AccessIn):
    """A wide search run in the background: by track, by attributes or by text."""

    kind: Literal["track", "attributes", "text"]
    track_id: CatalogId | None = None
    text: str | None = Field(default=None, max_length=500)
    timezone: str | None = Field(default=None, description=TEXT_TIMEZONE_DESCRIPTION)
    top_k: int = Field(default=1000, ge=1, le=10_000)

    @model_validator(mode="after")
    def _kind_has_its_input(self) -> SearchJobRequest:
        if self.kind == "track" and self.track_id is None:
            raise ValueError("track_id: required for kind 'track'")
        if self.kind == "text" and not (self.text and self.text.strip()):
            raise ValueError("text: required for kind 'text'")
        return self


class JobOut(BaseModel):
    id: str
    kind: str
    state: str
    progress: float
    error: str | None
    created_at: datetime
    updated_at: datetime
    total_hits: int | None
    offset: int
    hits: list[SearchHit]
