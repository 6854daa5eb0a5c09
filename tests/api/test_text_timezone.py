"""The text search reads 今天 / "yesterday" in the site's zone (SKYNET_TIMEZONE, the API
context's default_timezone) unless the request names one (first-user check: the API read them
in UTC while events, zone schedules and the rest of the product use the site's zone)."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient

from index.catalog import create_api_key, create_case, get_job
from search_api.app import create_app
from search_api.context import ApiContext
from tests.api_support import BASE_URL, empty_context

API = "/api/v1"
NOW = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)  # 10:00 on the 20th in Shanghai, 03:00 in Berlin
SHANGHAI_DAY = ("2026-11-19T16:00:00Z", "2026-11-20T16:00:00Z")  # the 20th there, in UTC


@pytest.fixture(scope="module")
def context(tmp_path_factory: pytest.TempPathFactory) -> ApiContext:
    return empty_context(tmp_path_factory.mktemp("text_timezone"))


def client_of(context: ApiContext) -> Iterator[tuple[TestClient, dict[str, str]]]:
    with context.sessions() as session:
        key = create_api_key(session, f"ana-{uuid.uuid4().hex[:8]}", "investigator")
        case_id = create_case(session, "Timezone case", "ana")
        session.commit()
    with TestClient(create_app(context), base_url=BASE_URL) as client:
        client.headers["X-API-Key"] = key
        yield client, {"case_id": case_id, "purpose": "timezone check", "now": NOW.isoformat()}


def parsed_window(client: TestClient, body: dict[str, str], **extra: str) -> tuple[str, str]:
    response = client.post(f"{API}/search/text", json={**body, **extra})
    assert response.status_code == 200, response.text
    parsed = response.json()["parsed"]
    return parsed["start"], parsed["end"]


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def test_today_is_the_site_zones_day_unless_the_request_names_a_zone(context: ApiContext) -> None:
    assert context.default_timezone == "Asia/Shanghai"  # SKYNET_TIMEZONE's default
    for client, body in client_of(context):
        start, end = parsed_window(client, body, text="红色轿车 今天")
        assert (utc(start), utc(end)) == tuple(map(utc, SHANGHAI_DAY))  # the site's today
        start, _ = parsed_window(client, body, text="red car yesterday", timezone="UTC")
        assert utc(start) == datetime(2026, 11, 19, tzinfo=UTC)  # the request's zone wins
        start, _ = parsed_window(client, body, text="red car yesterday")
        assert utc(start) == datetime(2026, 11, 18, 16, tzinfo=UTC)  # the 19th in Shanghai


def test_the_default_follows_the_configured_site_zone(context: ApiContext) -> None:
    berlin = dataclasses.replace(context, default_timezone="Europe/Berlin")
    for client, body in client_of(berlin):
        start, _ = parsed_window(client, body, text="红色轿车 今天")
        assert utc(start) == datetime(2026, 11, 19, 23, tzinfo=UTC)  # Berlin's midnight (UTC+1)


def test_a_text_search_job_reads_today_in_the_site_zone_too(context: ApiContext) -> None:
    for client, body in client_of(context):
        started = client.post(
            f"{API}/jobs/search",
            json={"kind": "text", "text": "红色轿车 今天", "case_id": body["case_id"],
                  "purpose": body["purpose"]},
        )  # fmt: skip
        assert started.status_code == 202, started.text
        with context.sessions() as session:
            job = get_job(session, started.json()["id"])
        assert job is not None
        start = utc(job.params["filters"]["start"])
        now = datetime.now(UTC)  # a job reads "today" at the time it is started
        site_midnight = now.astimezone(ZoneInfo("Asia/Shanghai")).replace(
            hour=0, minute=0, second=0, microsecond=0
        )
        assert start == site_midnight.astimezone(UTC), job.params
