"""What the OpenAPI document shows beyond the request and response schemas: the error body,
the 401/403 replies every route declares, and the attribute vocabularies as enums."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, Field, WithJsonSchema

from index.catalog.attributes import COLOURS, DIRECTIONS, SECTORS, VEHICLE_TYPES


class ErrorOut(BaseModel):
    """What every refused request returns."""

    detail: str = Field(description="what is wrong, naming the field or thing at fault")


AUTH_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "API key missing, unknown or revoked"},
    403: {"model": ErrorOut, "description": "the key's role or cameras do not allow this"},
}

# Signed links carry their own credential instead of an API key.
LINK_RESPONSES: dict[int | str, dict[str, Any]] = {
    403: {"model": ErrorOut, "description": "link is invalid or has expired"},
}


def vocabulary(values: tuple[str, ...]) -> WithJsonSchema:
    """OpenAPI lists `values`; validation stays with the filter's normaliser, which also takes
    other cases and synonyms ("Gray" is grey)."""
    return WithJsonSchema({"type": "string", "enum": list(values)})


ColourName = Annotated[str, vocabulary(COLOURS)]
VehicleTypeName = Annotated[str, vocabulary(VEHICLE_TYPES)]
DirectionName = Annotated[str, vocabulary(DIRECTIONS)]
SectorName = Annotated[str, vocabulary(SECTORS)]
