"""Site plan API (issue #18): upload, list, read the image, edit, delete — on the local store and
on the real S3 (Swift) — every bad input refused naming its field with nothing stored, unknown
ids 404, roles without the capability refused, every write audited, and a storage outage
answered 503 with the plan left whole (the same DELETE works once storage is back).

One API instance serves the module (building an app costs seconds), so each test names its
own plans and checks what changed."""

from __future__ import annotations

import dataclasses
import struct
import uuid
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient

from index.catalog import audit_entries, create_api_key
from search_api.app import API_PREFIX, create_app
from search_api.context import ApiContext
from storage.s3 import S3ObjectStore
from tests.api_support import BASE_URL, empty_context
from tests.servers.swift import S3Endpoint

PLANS = f"{API_PREFIX}/site-plans"
EDGES = {"north": "31.2310", "south": "31.2290", "west": "121.4690", "east": "121.4715"}
ROLES = ("admin", "operator", "investigator", "city_manager", "auditor", "viewer")


@dataclasses.dataclass
class PlanApi:
    client: TestClient
    context: ApiContext
    keys: dict[str, str]

    def as_(self, role: str) -> dict[str, str]:
        return {"X-API-Key": self.keys[role]}

    def stored_keys(self) -> list[str]:
        return [o.key for o in self.context.store.list("site-plans/")]

    def audited(self) -> list[tuple[str, str | None]]:
        with self.context.sessions() as session:
            entries = audit_entries(session)
        return [(e.action, e.target) for e in entries if e.action.startswith("site_plan")]

    def upload(
        self, data: bytes, name: str = "Plaza", filename: str = "plan.png", **edges: str
    ) -> Any:
        form = {"name": name, **EDGES, **edges}
        return self.client.post(PLANS, data=form, files={"image": (filename, data, "image/png")})


def plan_api(context: ApiContext) -> Iterator[PlanApi]:
    with context.sessions() as session:
        keys = {role: create_api_key(session, role, role) for role in ROLES}
        session.commit()
    with TestClient(create_app(context), base_url=BASE_URL) as client:
        client.headers["X-API-Key"] = keys["operator"]
        yield PlanApi(client, context, keys)


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PlanApi]:
    yield from plan_api(empty_context(tmp_path_factory.mktemp("site-plans")))


def named(plans: list[dict[str, Any]], *names: str) -> list[dict[str, Any]]:
    return [p for p in plans if p["name"] in names]


def picture(width: int = 400, height: int = 300, ext: str = ".png") -> bytes:
    """A real plan-like picture: a pale ground with a grid and a dark building block."""
    image = np.full((height, width, 3), (200, 230, 200), np.uint8)
    image[:, ::40] = (150, 150, 150)
    image[::40, :] = (150, 150, 150)
    cv2.rectangle(image, (width // 4, height // 4), (width // 2, height // 2), (60, 60, 60), -1)
    ok, data = cv2.imencode(ext, image)
    assert ok
    return data.tobytes()


def test_upload_list_read_edit_delete_on_the_local_store(api: PlanApi) -> None:
    png = picture()
    created = api.upload(png, name="  Plaza east  ")
    assert created.status_code == 201, created.text
    plan = created.json()
    assert plan["name"] == "Plaza east" and plan["content_type"] == "image/png"
    assert (plan["width_px"], plan["height_px"], plan["size_bytes"]) == (400, 300, len(png))
    edges = (plan["north"], plan["south"], plan["west"], plan["east"])
    assert edges == (31.231, 31.229, 121.469, 121.4715)
    assert plan["created_by"] == "operator"
    keys_before = len(api.stored_keys())
    jpeg = api.upload(picture(640, 480, ".jpg"), name="Depot", filename="depot.jpg")
    assert jpeg.status_code == 201 and jpeg.json()["content_type"] == "image/jpeg"

    # anyone who sees the camera map reads plans and their images
    for role in ("viewer", "city_manager"):
        listed = named(api.client.get(PLANS, headers=api.as_(role)).json(), "Depot", "Plaza east")
        assert [p["name"] for p in listed] == ["Depot", "Plaza east"]  # newest first
        image = api.client.get(plan["image_url"], headers=api.as_(role))
        assert image.status_code == 200 and image.content == png
        assert image.headers["content-type"] == "image/png"
        assert image.headers["x-content-type-options"] == "nosniff"

    changed = api.client.put(
        f"{PLANS}/{plan['id']}",
        json={"name": "Plaza", "north": 31.24, "south": 31.22, "west": 121.46, "east": 121.48},
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["name"] == "Plaza" and changed.json()["north"] == 31.24
    assert changed.json()["updated_at"] >= plan["updated_at"]
    assert api.client.get(plan["image_url"]).content == png  # the image stays

    assert len(api.stored_keys()) == keys_before + 1
    assert api.client.delete(f"{PLANS}/{plan['id']}").status_code == 204
    assert [p["name"] for p in named(api.client.get(PLANS).json(), "Depot", "Plaza")] == ["Depot"]
    assert len(api.stored_keys()) == keys_before  # its image went with it
    assert api.client.get(plan["image_url"]).status_code == 404
    target, other = f"site_plan:{plan['id']}", f"site_plan:{jpeg.json()['id']}"
    assert [a for a in api.audited() if a[1] in (target, other)] == [
        ("site_plan_create", target), ("site_plan_create", other),
        ("site_plan_update", target), ("site_plan_delete", target),
    ]  # fmt: skip


def png_of(width: int, height: int) -> bytes:
    ok, data = cv2.imencode(".png", np.zeros((height, width), np.uint8))
    assert ok
    return data.tobytes()


def png_header(width: int, height: int) -> bytes:
    """A PNG whose header declares `width` x `height` (a decompression bomb's first bytes)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b"")


def gif() -> bytes:
    return b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"  # noqa: E501


BAD_UPLOADS = {
    "text": (b"meeting notes, not a plan\n" * 20, {}, 422, "image: the file is not a PNG or JPEG"),
    "gif": (gif(), {}, 422, "image: the file is not a PNG or JPEG"),
    "empty": (b"", {}, 422, "image: the image is empty"),
    "truncated png": (picture()[:600], {}, 422, "image: the image cannot be decoded"),
    "over 10 MB": (b"\x89PNG\r\n\x1a\n" + bytes(10 * 1024 * 1024), {}, 413, "image: the file is"),
    "over 8000 px": (png_of(8001, 16), {}, 422, "image: the image is 8001x16 px"),
    "tiny": (png_of(8, 8), {}, 422, "image: the image is 8x8 px"),
    "81 MP header": (png_header(9000, 9000), {}, 422, "image: the image is 9000x9000 px (81.0"),
    "bomb header": (png_header(30000, 30000), {}, 422, "image: the image is over 179 MP"),
    "north below south": (None, {"north": "31.2"}, 422, "north: must be above south"),
    "east of west": (None, {"east": "121.4"}, 422, "east: must be east of west"),
    "north over 90": (None, {"north": "91"}, 422, "north: must be a number in [-90, 90]"),
    "south under -90": (None, {"south": "-90.5"}, 422, "south: must be a number in [-90,"),
    "west under -180": (None, {"west": "-181"}, 422, "west: must be a number in [-180,"),
    "east over 180": (None, {"east": "180.01"}, 422, "east: must be a number in [-180,"),
    "east not a number": (None, {"east": "far"}, 422, "body.east:"),
    "north nan": (None, {"north": "nan"}, 422, "north: must be a number in [-90,"),
    "blank name": (None, {"name": "   "}, 422, "name: must have 1-200 characters"),
    "long name": (None, {"name": "x" * 201}, 422, "body.name:"),
}  # fmt: skip


@pytest.mark.parametrize("case", list(BAD_UPLOADS), ids=list(BAD_UPLOADS))
def test_bad_uploads_are_refused_naming_the_field_and_store_nothing(
    api: PlanApi, case: str
) -> None:
    data, fields, status, detail = BAD_UPLOADS[case]
    before = (api.client.get(PLANS).json(), api.stored_keys(), api.audited())
    reply = api.upload(picture() if data is None else data, **{"name": f"Bad {case}", **fields})
    assert reply.status_code == status, reply.text
    assert reply.json()["detail"].startswith(detail), reply.json()
    assert (api.client.get(PLANS).json(), api.stored_keys(), api.audited()) == before


def test_missing_fields_and_a_duplicate_name_are_refused(api: PlanApi) -> None:
    no_image = api.client.post(PLANS, data={"name": "A", **EDGES})
    assert no_image.status_code == 422 and "body.image" in no_image.json()["detail"]
    edges = {k: v for k, v in EDGES.items() if k != "west"}
    no_west = api.client.post(
        PLANS, data={"name": "A", **edges}, files={"image": ("a.png", picture(), "image/png")}
    )
    assert no_west.status_code == 422 and "body.west" in no_west.json()["detail"]
    keys_before = len(api.stored_keys())
    assert api.upload(picture(), name="Twice").status_code == 201
    duplicate = api.upload(picture(), name="Twice")
    assert duplicate.status_code == 409 and duplicate.json()["detail"].startswith("name:")
    assert len(api.stored_keys()) == keys_before + 1  # the refused duplicate stored no image


def test_bad_edits_leave_the_plan_as_it_was(api: PlanApi) -> None:
    plan = api.upload(picture(), name="Edited").json()
    other = api.upload(picture(), name="Edit clash").json()
    body = {"name": "Edited", "north": 31.24, "south": 31.22, "west": 121.46, "east": 121.48}
    changes: list[tuple[dict[str, Any], int, str]] = [
        ({"north": 31.21}, 422, "north: must be above south"),
        ({"east": 121.45}, 422, "east: must be east of west"),
        ({"south": -91}, 422, "south: must be a number in [-90, 90]"),
        ({"west": 181}, 422, "west: must be a number in [-180, 180]"),
        ({"name": ""}, 422, "body.name:"),
        ({"name": "Edit clash"}, 409, "name: site plan 'Edit clash' already exists"),
    ]
    for change, status, detail in changes:
        reply = api.client.put(f"{PLANS}/{plan['id']}", json={**body, **change})
        assert reply.status_code == status and reply.json()["detail"].startswith(detail), reply.text
    assert named(api.client.get(PLANS).json(), "Edited", "Edit clash") == [other, plan]


def test_unknown_ids_are_404(api: PlanApi) -> None:
    body = {"name": "P", "north": 2, "south": 1, "west": 1, "east": 2}
    for reply in (
        api.client.get(f"{PLANS}/40404/image"),
        api.client.put(f"{PLANS}/40404", json=body),
        api.client.delete(f"{PLANS}/40404"),
    ):
        assert reply.status_code == 404 and reply.json()["detail"] == "site plan 40404 not found"
    assert api.client.get(f"{PLANS}/0/image").status_code == 422  # ids start at 1


def test_only_camera_admins_write_and_only_map_viewers_read(api: PlanApi) -> None:
    plan = api.upload(picture(), name="Guarded").json()
    body = {"name": "P", "north": 2, "south": 1, "west": 1, "east": 2}
    one = f"{PLANS}/{plan['id']}"
    for role in ("investigator", "city_manager", "auditor", "viewer"):
        headers = api.as_(role)
        files = {"image": ("p.png", picture(), "image/png")}
        assert api.client.post(PLANS, data=EDGES, files=files, headers=headers).status_code == 403
        assert api.client.put(one, json=body, headers=headers).status_code == 403
        assert api.client.delete(one, headers=headers).status_code == 403
    assert api.client.get(PLANS, headers=api.as_("auditor")).status_code == 403
    assert api.client.get(plan["image_url"], headers=api.as_("auditor")).status_code == 403
    assert api.client.get(PLANS, headers={"X-API-Key": "nope"}).status_code == 401
    assert named(api.client.get(PLANS, headers=api.as_("admin")).json(), "Guarded") == [plan]
    admin_upload = api.client.post(
        PLANS, data={"name": "By admin", **EDGES},
        files={"image": ("a.png", picture(), "image/png")}, headers=api.as_("admin"),
    )  # fmt: skip
    assert admin_upload.status_code == 201


@pytest.fixture
def s3_api(tmp_path: Path, s3_server: S3Endpoint) -> Iterator[PlanApi]:  # a fresh bucket
    context = empty_context(tmp_path)
    context.store = S3ObjectStore(
        s3_server.endpoint, s3_server.access_key, s3_server.secret_key,
        bucket=f"plans-{uuid.uuid4().hex[:12]}", region=s3_server.region,
    )  # fmt: skip
    yield from plan_api(context)


@pytest.mark.integration
@pytest.mark.slow
def test_on_real_s3_an_outage_is_503_and_leaves_nothing_half_written(
    s3_api: PlanApi, s3_server: S3Endpoint
) -> None:
    png = picture()
    plan = s3_api.upload(png).json()
    assert s3_api.client.get(plan["image_url"]).content == png
    (key,) = s3_api.stored_keys()
    s3_server.stop_service("object")  # the proxy still answers, with 503
    try:
        refused = s3_api.upload(picture(200, 100), name="During the outage")
        assert refused.status_code == 503, refused.text
        assert "object storage is unavailable" in refused.json()["detail"]
        gone = s3_api.client.delete(f"{PLANS}/{plan['id']}")
        assert gone.status_code == 503 and "send the same DELETE again" in gone.json()["detail"]
        assert s3_api.client.get(f"{PLANS}/{plan['id']}/image").status_code == 503
    finally:
        s3_server.start()
    assert s3_api.client.get(PLANS).json() == [plan]  # kept whole: row and image
    assert s3_api.client.get(plan["image_url"]).content == png
    assert s3_api.stored_keys() == [key]
    assert s3_api.client.delete(f"{PLANS}/{plan['id']}").status_code == 204  # the same DELETE
    assert s3_api.client.get(PLANS).json() == [] and s3_api.stored_keys() == []
    assert s3_api.audited() == [
        ("site_plan_create", f"site_plan:{plan['id']}"),
        ("site_plan_delete", f"site_plan:{plan['id']}"),
    ]
