"""The API layer's shape: OpenAPI lists the attribute vocabularies and the 401/403 replies,
domain errors map to their statuses in one handler (also when raised outside a request), and
the layering rules hold (no SQL in search_api/, dependencies in deps.py only, no router imports
another, HTTP exceptions only where HTTP itself is the subject)."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from index.catalog import (
    CameraSpec,
    DuplicateZoneError,
    Principal,
    UnknownCameraError,
    UnknownZoneError,
    upsert_camera,
)
from index.catalog.attributes import COLOURS, DIRECTIONS, SECTORS, VEHICLE_TYPES
from ingest.camera_status import CameraStatus
from search_api.access import authorize_search, visible_cameras
from search_api.app import API_PREFIX, create_app
from search_api.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    PayloadTooLarge,
    status_and_detail,
)
from search_api.schemas import CameraStatusOut, SearchFiltersIn
from search_api.search_filters import filters_from

ROOT = Path(__file__).resolve().parents[2]
SEARCH_API = ROOT / "search_api"
SIGNED_LINK_PREFIXES = tuple(f"{API_PREFIX}/{route}" for route in ("objects", "pictures", "clips"))


@pytest.fixture(scope="module")
def openapi() -> dict[str, Any]:
    return create_app(None).openapi()  # type: ignore[arg-type]  # the schema needs no context


def string_enum(schema: dict[str, Any]) -> list[str]:
    """The enum of a nullable string property (anyOf [string with enum, null])."""
    return next(branch["enum"] for branch in schema["anyOf"] if "enum" in branch)


def test_openapi_lists_the_attribute_vocabularies(openapi: dict[str, Any]) -> None:
    schemas = openapi["components"]["schemas"]
    image_form = next(v for k, v in schemas.items() if k.startswith("Body_search_by_image"))
    for schema in (schemas["AttributeSearchRequest"], schemas["SearchJobRequest"], image_form):
        properties = schema["properties"]
        assert string_enum(properties["colour"]) == list(COLOURS)
        assert string_enum(properties["upper_colour"]) == list(COLOURS)
        assert string_enum(properties["vehicle_type"]) == list(VEHICLE_TYPES)
        assert string_enum(properties["direction"]) == list(DIRECTIONS)
        assert string_enum(properties["compass"]) == list(SECTORS)
    assert "car" in VEHICLE_TYPES and "red" in COLOURS


def test_openapi_declares_401_and_403_on_every_route(openapi: dict[str, Any]) -> None:
    checked = 0
    for path, operations in openapi["paths"].items():
        for method, operation in operations.items():
            codes = set(operation["responses"])
            if path.startswith(SIGNED_LINK_PREFIXES):  # the signature is the credential
                assert "403" in codes, (method, path)
                continue
            if path == "/":  # the front door: public, never refuses (tests/ui/test_front_door)
                assert codes == {"302", "404"} and not operation.get("security"), operation
                continue
            assert {"401", "403"} <= codes, (method, path, codes)
            error = operation["responses"]["403"]["content"]["application/json"]["schema"]
            assert error == {"$ref": "#/components/schemas/ErrorOut"}
            checked += 1
    assert checked >= 25  # search, tracks, cameras, zones, cases, jobs, health, metrics


def test_domain_and_catalog_errors_map_to_their_statuses() -> None:
    duplicate = "camera 'a' already has a zone named 'door'"
    cases = [
        (InvalidInput("text: bad"), 422, "text: bad"),
        (PayloadTooLarge("too big"), 413, "too big"),
        (NotFound("track 9 not found"), 404, "track 9 not found"),
        (Forbidden("no access"), 403, "no access"),
        (Conflict("exists"), 409, "exists"),
        (UnknownCameraError("camera 'x' is unknown"), 404, "camera 'x' is unknown"),
        (UnknownZoneError("zone 4 is unknown"), 404, "zone 4 is unknown"),
        (DuplicateZoneError(duplicate), 409, f"name: {duplicate}"),
    ]
    for error, status, detail in cases:
        assert status_and_detail(error) == (status, detail)


def test_services_raise_domain_errors_outside_a_request(sessions: sessionmaker[Session]) -> None:
    """What the job thread pool sees: the same checks, as domain errors, no HTTP involved."""
    viewer = Principal("vic", "viewer", None)
    desk = Principal("desk", "investigator", frozenset({"cam2"}))
    with sessions() as session:
        upsert_camera(session, CameraSpec("cam1", "Gate 1", "rtsp://10.0.0.5/cam1"))
        with pytest.raises(Forbidden, match="role 'viewer' may not do this"):
            authorize_search(session, viewer, ["car"], None, None)
        with pytest.raises(Forbidden, match="searches for persons need case_id and purpose"):
            authorize_search(session, desk, None, None, None)
        with pytest.raises(NotFound, match=r"camera\(s\) \['nope'\] not found"):
            filters_from(session, desk, SearchFiltersIn(camera_ids=["nope"]))
        with pytest.raises(Forbidden, match=r"no access to camera\(s\) \['cam1'\]"):
            filters_from(session, desk, SearchFiltersIn(camera_ids=["cam1"]))
    assert visible_cameras(desk, None) == ("cam2",)


def test_camera_status_is_an_ingest_value_the_api_wraps() -> None:
    status = CameraStatus("cam1", "online", input_fps=25.0, frames_dropped=3, storage_down=True)
    out = CameraStatusOut.of(status)
    assert out.model_dump() == {
        **{name: getattr(status, name) for name in CameraStatusOut.model_fields},
        "input_fps": 25.0,
    }
    assert set(CameraStatusOut.model_fields) == set(status.__dataclass_fields__)


# ---- layering --------------------------------------------------------------------------------


def imports(path: Path) -> set[str]:
    """Modules a file imports (`from a.b import c` gives a.b and a.b.c)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
    return found


def api_files() -> list[Path]:
    return sorted(SEARCH_API.rglob("*.py"))


def test_search_api_holds_no_sql() -> None:
    for path in api_files():
        text = path.read_text(encoding="utf-8")
        assert "sqlalchemy" not in text and "index.catalog.rows" not in text, path
        assert "select(" not in text, path


def test_no_router_imports_another_router() -> None:
    for path in sorted((SEARCH_API / "routers").glob("*.py")):
        others = {m for m in imports(path) if m.startswith("search_api.routers")}
        assert not others, (path.name, others)


def test_dependencies_live_in_deps_only() -> None:
    for path in api_files():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        defined = {
            target.id
            for node in ast.walk(tree)
            if isinstance(node, ast.Assign)
            for target in node.targets
            if isinstance(target, ast.Name) and target.id.endswith("Dep")
        }
        inline = "Depends(api_context)" in path.read_text(encoding="utf-8")
        if path.name == "deps.py":
            assert {"SessionDep", "PrincipalDep", "ContextDep", "RunnerDep"} <= defined
        else:
            assert not defined and not inline, (path, defined)


def test_http_exceptions_only_where_http_is_the_subject() -> None:
    raising = {
        path.relative_to(SEARCH_API).as_posix()
        for path in api_files()
        if "HTTPException" in path.read_text(encoding="utf-8")
    }
    # 401 + WWW-Authenticate; 413 from the body stream (limits.py); 416 Range
    assert raising == {"deps.py", "limits.py", "routers/objects.py"}


def test_the_runtime_does_not_import_the_api_schemas() -> None:
    runtime = imports(ROOT / "skynet" / "runtime.py")
    assert "ingest.camera_status.CameraStatus" in runtime
    assert not {m for m in runtime if m.startswith("search_api.schemas")}
