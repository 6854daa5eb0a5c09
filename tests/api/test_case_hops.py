"""A case's hop decisions (issue #18): confirm / reject / withdraw by the case's creator or an
admin while it is open, on tracks of cameras they may see; the trail read back by the creator,
admins and auditors (each seeing only their cameras); confirming files both tracks under the
case; every change audited; and a hop search under the case takes the decisions in."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest

from index.catalog import CameraSpec, upsert_camera
from index.track_indexer import TrackIndexer
from tests.api_support import (
    HOP_T0,
    LAT0,
    LON0,
    METRES_PER_DEG_LON,
    _record,
    empty_context,
    vtest_pairs,
)
from tests.case_support import CaseEnv, Person, case_env

TOO_BIG = 2**63  # one past the largest catalog id
PEOPLE = {
    "ana": Person("investigator"),
    "gina": Person("investigator", ("hopA", "hopB")),
    "bob": Person("investigator"),
    "aud": Person("auditor"),
    "aud-ab": Person("auditor", ("hopA", "hopB")),
    "root": Person("admin"),
}


class Env(CaseEnv):
    def decide(
        self, case_id: str, who: str, a: int, b: int, decision: str, **extra: Any
    ) -> httpx.Response:
        body = {"from_track_id": a, "to_track_id": b, "decision": decision, **extra}
        return self.call("PUT", f"/cases/{case_id}/hops", who, json=body)

    def hop(self, case_id: str, seed: str = "seed") -> dict[str, Any]:
        body = {"track_id": self.tracks[seed], "case_id": case_id, "purpose": "follow P"}
        reply = self.call("POST", "/search/hop", "ana", json=body)
        assert reply.status_code == 200, reply.text
        return dict(reply.json())


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    """Person P walks from hopA to hopB (100 m) and back; two look-alikes reach hopB about when
    P does; a third person is seen on `yard`, a camera some keys may not see."""
    root = tmp_path_factory.mktemp("case_hops")
    context = empty_context(root)
    url = "rtsp://10.0.0.5/main"
    with context.sessions() as session:
        for spec in (
            CameraSpec("hopA", "Crossing A", url, lat=LAT0, lon=LON0),
            CameraSpec("hopB", "Crossing B", url, lat=LAT0, lon=LON0 + 100 / METRES_PER_DEG_LON),
            CameraSpec("yard", "Yard", url, lat=LAT0, lon=LON0 - 100 / METRES_PER_DEG_LON),
        ):
            upsert_camera(session, spec)
        session.commit()
    (p_first, p_later), (_, other1), (_, other2), (yard_person, _) = vtest_pairs(4)
    embedder = context.embedder
    at = [HOP_T0 + timedelta(seconds=s) for s in (0, 88, 75, 100, 200, 90)]
    records = [
        _record(embedder, "hopA", 1, "person", p_first, at[0], {}),
        _record(embedder, "hopB", 2, "person", p_later, at[1], {}),
        _record(embedder, "hopB", 3, "person", other1, at[2], {}),
        _record(embedder, "hopB", 4, "person", other2, at[3], {}),
        _record(embedder, "hopA", 5, "person", p_first, at[4], {}),
        _record(embedder, "yard", 6, "person", yard_person, at[5], {}),
    ]
    indexer = TrackIndexer(context.sessions, context.store, context.vectors, root / "vectors")
    names = ("seed", "true", "lookalike1", "lookalike2", "return", "yard")
    tracks = dict(zip(names, indexer.index(records), strict=True))
    yield from case_env(Env, context, tracks, PEOPLE)


def test_confirm_reject_withdraw_read_back_and_audit(env: Env) -> None:
    case = env.open_case("ana", "follow P")
    seed, true = env.tracks["seed"], env.tracks["true"]
    confirmed = env.decide(case, "ana", true, seed, "confirmed", note="same coat")
    assert confirmed.status_code == 200, confirmed.text
    body = confirmed.json()
    assert (body["from_track_id"], body["to_track_id"]) == (seed, true)  # earlier sighting first
    assert (body["decision"], body["note"], body["decided_by"]) == ("confirmed", "same coat", "ana")
    assert body["previous_decision"] is None
    assert body["from_track"]["camera_id"] == "hopA" and body["to_track"]["camera_id"] == "hopB"
    assert body["to_track"]["thumbnail_url"] and body["to_track"]["clip_url"]
    again = env.decide(case, "ana", seed, true, "confirmed", note="same coat")
    assert again.status_code == 200 and again.json()["previous_decision"] == "confirmed"
    trail = env.call("GET", f"/cases/{case}/hops", "ana").json()
    assert [(h["from_track_id"], h["to_track_id"]) for h in trail["confirmed"]] == [(seed, true)]
    assert trail["rejected"] == [] and trail["is_open"] is True
    filed = env.call("GET", f"/cases/{case}/tracks", "ana").json()["track_ids"]
    assert sorted(filed) == sorted([seed, true])  # exports and legal holds include them

    changed = env.decide(case, "ana", seed, true, "rejected")
    assert changed.json()["previous_decision"] == "confirmed"
    trail = env.call("GET", f"/cases/{case}/hops", "ana").json()
    assert trail["confirmed"] == [] and [h["note"] for h in trail["rejected"]] == [""]
    gone = env.call(
        "DELETE", f"/cases/{case}/hops", "ana", params={"from_track_id": true, "to_track_id": seed}
    )
    assert gone.status_code == 204
    twice = env.call(
        "DELETE", f"/cases/{case}/hops", "ana", params={"from_track_id": seed, "to_track_id": true}
    )
    assert twice.status_code == 404 and "no decision" in twice.json()["detail"]
    assert env.call("GET", f"/cases/{case}/hops", "ana").json()["rejected"] == []

    decisions = env.audited(case, "decide_hop")
    assert [(d["decision"], d["previous"]) for d in decisions] == [
        ("confirmed", None), ("confirmed", "confirmed"), ("rejected", "confirmed"),
    ]  # fmt: skip
    assert [d["filed"] for d in decisions] == [2, 0, 0] and decisions[0]["note"] == "same coat"
    assert env.audited(case, "withdraw_hop") == [
        {"from_track_id": seed, "to_track_id": true, "decision": "rejected", "principal": "ana"}
    ]
    assert len(env.audited(case, "read_case_hops")) == 3


def test_bad_input_is_refused_and_changes_nothing(env: Env) -> None:
    case = env.open_case("ana", "bad input")
    seed, true = env.tracks["seed"], env.tracks["true"]
    refusals = [
        (env.decide("no-such-case", "ana", seed, true, "confirmed"), 404, "case"),
        (env.decide(case, "ana", seed, 987654, "confirmed"), 404, "track 987654"),
        (env.decide(case, "ana", seed, seed, "confirmed"), 422, "to_track_id"),
        (env.decide(case, "ana", TOO_BIG, true, "confirmed"), 422, "from_track_id"),
        (env.decide(case, "ana", seed, true, "confirmed", note="x" * 2001), 422, "note"),
        (env.decide(case, "ana", seed, true, "maybe"), 422, "decision"),
        (env.decide(case, "bob", seed, true, "confirmed"), 403, "opened by someone else"),
        (env.call("GET", "/cases/no-such-case/hops", "ana"), 404, "case"),
        (env.call("GET", f"/cases/{case}/hops", "bob"), 403, "opened by someone else"),
        (
            env.call(
                "DELETE", f"/cases/{case}/hops", "ana",
                params={"from_track_id": TOO_BIG, "to_track_id": true},
            ),
            422, "from_track_id",
        ),
        (
            env.call(
                "DELETE", f"/cases/{case}/hops", "ana",
                params={"from_track_id": seed, "to_track_id": seed},
            ),
            422, "to_track_id",
        ),
    ]  # fmt: skip
    for reply, status, words in refusals:
        assert (reply.status_code, words in reply.json()["detail"]) == (status, True), reply.text
    assert env.call("GET", f"/cases/{case}/hops", "ana").json()["rejected"] == []
    assert env.call("GET", f"/cases/{case}/tracks", "ana").json()["track_ids"] == []
    assert env.audited(case, "decide_hop") == []


def test_a_closed_case_takes_no_decisions_but_is_read(env: Env) -> None:
    case = env.open_case("ana", "closed soon")
    seed, true = env.tracks["seed"], env.tracks["true"]
    assert env.decide(case, "ana", seed, true, "confirmed").status_code == 200
    assert env.call("POST", f"/cases/{case}/close", "ana").status_code == 200
    late = env.decide(case, "ana", seed, true, "rejected")
    assert late.status_code == 403 and "closed" in late.json()["detail"]  # as for case tracks
    withdraw = env.call(
        "DELETE", f"/cases/{case}/hops", "ana", params={"from_track_id": seed, "to_track_id": true}
    )
    assert withdraw.status_code == 403 and "closed" in withdraw.json()["detail"]
    trail = env.call("GET", f"/cases/{case}/hops", "ana").json()
    assert trail["is_open"] is False and [h["decision"] for h in trail["confirmed"]] == [
        "confirmed"
    ]


def test_each_caller_sees_and_decides_only_their_cameras(env: Env) -> None:
    seed, true, yard = env.tracks["seed"], env.tracks["true"], env.tracks["yard"]
    mine = env.open_case("gina", "gina's case")
    unseen = env.decide(mine, "gina", seed, yard, "rejected")
    assert unseen.status_code == 404 and unseen.json()["detail"] == f"track {yard} not found"
    assert env.decide(mine, "gina", 987654, seed, "rejected").json()["detail"] == (
        "track 987654 not found"
    )  # the same answer as for a track that does not exist
    case = env.open_case("ana", "three cameras")
    assert env.decide(case, "ana", seed, true, "confirmed").status_code == 200
    assert env.decide(case, "ana", seed, yard, "rejected").status_code == 200
    admin_view = env.call("GET", f"/cases/{case}/hops", "root").json()
    assert [h["to_track_id"] for h in admin_view["rejected"]] == [yard]
    full = env.call("GET", f"/cases/{case}/hops", "aud").json()
    assert [h["to_track_id"] for h in full["rejected"]] == [yard]
    assert full["confirmed"][0]["to_track"]["thumbnail_url"] is None  # auditors: no pictures
    limited = env.call("GET", f"/cases/{case}/hops", "aud-ab").json()
    assert limited["rejected"] == [] and len(limited["confirmed"]) == 1  # the yard hop left out
    by_admin = env.decide(case, "root", true, yard, "rejected")
    assert by_admin.status_code == 200  # an admin may decide under anyone's case
    assert env.audited(case, "decide_hop")[-1]["principal"] == "root"


def test_hop_search_under_the_case_takes_its_decisions(env: Env) -> None:
    seed, true = env.tracks["seed"], env.tracks["true"]
    case = env.open_case("ana", "hop search")
    plain = env.hop(case)
    ranked = [c["track_id"] for c in plain["candidates"]]
    assert ranked[0] == true and {c["decision"] for c in plain["candidates"]} == {None}
    assert [(h["track_id"], h["decision"]) for h in plain["trail"]] == [(seed, None)]
    look_alikes = [t for t in ranked if t in (env.tracks["lookalike1"], env.tracks["lookalike2"])]
    best_look_alike = look_alikes[0]
    assert env.decide(case, "ana", seed, best_look_alike, "rejected").status_code == 200
    marked = env.hop(case)["candidates"]
    assert marked[-1]["track_id"] == best_look_alike and marked[-1]["decision"] == "rejected"
    assert all(c["decision"] is None for c in marked[:-1]) and marked[0]["track_id"] == true

    assert env.decide(case, "ana", seed, true, "confirmed").status_code == 200
    followed = env.hop(case)
    assert [(h["track_id"], h["decision"]) for h in followed["trail"]] == [
        (seed, None), (true, "confirmed"),
    ]  # fmt: skip
    assert followed["candidates"][0]["track_id"] == env.tracks["return"]
    from_true = env.hop(case, seed="true")  # the same trail, whichever end it starts from
    assert [h["track_id"] for h in from_true["trail"]] == [seed, true]
    others = env.call(
        "POST", "/search/hop", "bob",
        json={"track_id": seed, "case_id": case, "purpose": "borrowing ana's case"},
    )  # fmt: skip
    assert others.status_code == 403 and "opened by someone else" in others.json()["detail"]
