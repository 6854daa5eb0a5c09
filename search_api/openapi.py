"""What the OpenAPI document shows beyond the request and response schemas: the error body,
the error replies routes declare, the attribute vocabularies as enums, the id type, and the
document itself without tuple (`prefixItems`) schemas."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Annotated, Any

from annotated_types import Ge, Le
from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import AwareDatetime, BaseModel, Field, WithJsonSchema

from index.catalog.attributes import CARRIED_CLASSES, COLOURS, DIRECTIONS, SECTORS, VEHICLE_TYPES


class ErrorOut(BaseModel):
    """What every refused request returns."""

    detail: str = Field(description="what is wrong, naming the field or thing at fault")


AUTH_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "API key missing, unknown or revoked"},
    403: {"model": ErrorOut, "description": "the key's role or cameras do not allow this"},
}

# Every /api/v1 route may answer these (the request guard and the domain-error handler).
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorOut, "description": "the request is malformed or refused as written"},
    404: {"model": ErrorOut, "description": "not found, or outside the key's cameras"},
    409: {"model": ErrorOut, "description": "clashes with what is stored"},
    413: {"model": ErrorOut, "description": "request body or picture too large"},
    422: {"model": ErrorOut, "description": "a field is invalid; `detail` names it"},
    429: {
        "model": ErrorOut,
        "description": "rate limit reached; retry after `Retry-After` seconds",
        "headers": {"Retry-After": {"schema": {"type": "integer"}}},
    },
}

# Catalog ids are 64-bit signed integers: larger ones are refused with 422 before any query.
MAX_CATALOG_ID = 2**63 - 1
CatalogId = Annotated[int, Ge(1), Le(MAX_CATALOG_ID)]
# Times a search takes: far enough from year 1 and 9999 that windows around them ("an hour
# before", "yesterday afternoon") stay representable.
EARLIEST_TIME = datetime(1970, 1, 1, tzinfo=UTC)
LATEST_TIME = datetime(9000, 1, 1, tzinfo=UTC)
SearchTime = Annotated[AwareDatetime, Ge(EARLIEST_TIME), Le(LATEST_TIME)]

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
CarriedName = Annotated[str, vocabulary(CARRIED_CLASSES)]


def validation_detail(errors: Sequence[Any]) -> str:
    """`where: problem` for each validation error, joined with "; "."""
    parts = []
    for item in errors:
        where = ".".join(str(part) for part in item.get("loc", ()))
        message = str(item.get("msg", "invalid"))
        parts.append(f"{where}: {message}" if where else message)
    return "; ".join(parts) or "invalid request"


def without_tuples(node: Any) -> Any:
    """The schema with each tuple (`prefixItems`, which schemathesis and many generators cannot
    read) as an array of `minItems` = `maxItems` items of the tuple's item schema(s)."""
    if isinstance(node, list):
        return [without_tuples(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: without_tuples(value) for key, value in node.items()}
    prefix = node.pop("prefixItems", None)
    if prefix is not None:
        distinct = [s for i, s in enumerate(prefix) if s not in prefix[:i]]
        node["items"] = distinct[0] if len(distinct) == 1 else {"anyOf": distinct}
        node["minItems"] = node["maxItems"] = len(prefix)
    return node


def install_openapi(app: FastAPI) -> None:
    """Serve the generated OpenAPI document (with `app.webhooks`) without tuple schemas."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
                webhooks=app.webhooks.routes,
            )
            app.openapi_schema = without_tuples(schema)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
