"""Request and response schemas of plate search (issue #14): the pattern and its mode checked
by detect's parser (a 422 naming `pattern`), hits that are vehicle tracks with their plate."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, ValidationInfo, field_validator

from detect.plate_match import DEFAULT_MAX_DISTANCE, PlatePattern, parse_plate_pattern
from search_api.schemas import AccessIn, SearchFiltersIn, SearchHit

PlateModeName = Literal["exact", "prefix", "contains", "wildcard", "fuzzy"]


class PlateSearchRequest(SearchFiltersIn, AccessIn):
    """A plate pattern with the usual camera, time and zone filters; needs a case and purpose."""

    mode: PlateModeName = Field(
        default="exact",
        description="exact; prefix or contains (a partial plate, e.g. A12); wildcard (* any "
        "run, ? one character); fuzzy (ranked by OCR-confusion-weighted distance)",
    )
    max_distance: float = Field(
        default=DEFAULT_MAX_DISTANCE,
        ge=0.0,
        le=10.0,
        description="fuzzy only: the largest distance returned (look-alike 0.3, other 1)",
    )
    pattern: str = Field(
        min_length=1,
        max_length=200,  # longer than any plate pattern: refused below, naming the limit
        examples=["吉A12345", "A12", "吉A*23?5"],
        description="plate text, upper or lower case; separators (space, ·, -) ignored",
    )
    top_k: int = Field(default=20, ge=1, le=500)
    offset: int = Field(default=0, ge=0, le=100_000)

    @field_validator("pattern")
    @classmethod
    def _parsable(cls, value: str, info: ValidationInfo) -> str:
        mode = info.data.get("mode")
        if mode is not None:
            parse_plate_pattern(value, mode, info.data.get("max_distance", DEFAULT_MAX_DISTANCE))
        return value

    def plate_pattern(self) -> PlatePattern:
        """The parsed pattern (already checked when the request was validated)."""
        return parse_plate_pattern(self.pattern, self.mode, self.max_distance)


class PlateAlternative(BaseModel):
    text: str
    score: float


class PlateOut(BaseModel):
    """A hit's plate: the voted read, how sure, alternatives, the crop, and why it matched."""

    text: str
    confidence: float
    colour: str
    plate_format: str
    alternatives: list[PlateAlternative] = Field(default_factory=list)
    crop_url: str | None = Field(description="signed link to the plate crop")
    matched_text: str = Field(description="the text that matched: the read or an alternative")
    distance: float = Field(description="fuzzy distance to the query; 0 for pattern matches")
    why: str = Field(description="the match in words, e.g. look-alike Z→2")


class PlateSearchHit(SearchHit):
    """A vehicle track found by its plate; `more_like_this` continues the trail by appearance
    where the plate is unreadable (POST it with the same case and purpose)."""

    plate: PlateOut
    more_like_this: str = Field(description="POST path of the appearance search from this track")


class PlateSearchResponse(BaseModel):
    pattern: str = Field(description="the pattern as searched (normalised)")
    mode: PlateModeName
    hits: list[PlateSearchHit]
    offset: int = 0
    total: int = Field(description="matches in all")
