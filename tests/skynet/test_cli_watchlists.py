"""`skynet watchlist add/list/hits` on a real SQLite catalog: patterns parsed, bad fields named,
hits listed after a track is indexed, reads audited."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from detect.plate_values import TrackPlate
from detect.track_record import TrackRecord
from index.catalog import NewTrack, add_tracks, audit_entries, create_case, upsert_camera
from index.catalog.engine import init_catalog, session_factory
from index.catalog.values import CameraSpec
from index.catalog.watchlists import match_watchlists
from skynet.cli import app


@pytest.fixture
def case_id(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("SKYNET_DATA_DIR", str(tmp_path))
    with session_factory(init_catalog(f"sqlite:///{tmp_path / 'catalog.db'}"))() as session:
        upsert_camera(session, CameraSpec("gate", "Gate", "rtsp://10.0.0.5/main"))
        made = create_case(session, "stolen car", "ana")
        session.commit()
    return made


def run(*args: str) -> str:
    result = CliRunner().invoke(app, ["watchlist", *args])
    assert result.exit_code == 0, result.output
    return result.output


def test_add_list_and_hits(tmp_path: Path, case_id: str) -> None:
    access = ["--case-id", case_id, "--purpose", "theft", "--days", "2"]
    assert "watchlist 1 (stolen): 2 plate(s)" in run(
        "add", "stolen", "吉A12345", "京B7*", *access, "--match", "wildcard"
    )
    assert "吉A12345, 京B7*" in run("list")
    refused = CliRunner().invoke(app, ["watchlist", "add", "x", "吉A'--", *access])
    assert refused.exit_code != 0 and "PLATES" in refused.output
    closed = CliRunner().invoke(
        app, ["watchlist", "add", "x", "吉A1", *access[2:], "--case-id", "nope"]
    )
    assert closed.exit_code != 0 and "case-id" in closed.output
    seen = datetime.now(UTC)
    record = TrackRecord(
        camera_id="gate", local_track_id=1, class_name="car", confidence=0.9,
        start_at=seen, end_at=seen, best_shot_at=seen, best_box=(0.0, 0.0, 1.0, 1.0),
        thumbnail_jpeg=b"j", embedding=np.ones(4, np.float32) / 2, embedding_version="v",
        trajectory=[], plate=TrackPlate("京B7720", 0.9),
    )  # fmt: skip
    with session_factory(init_catalog(f"sqlite:///{tmp_path / 'catalog.db'}"))() as session:
        ids = add_tracks(session, [NewTrack.from_record(record, "t/1")])
        assert len(match_watchlists(session, ids, [record])) == 1
        session.commit()
    assert "京B7720" in run("hits", "1")
    with session_factory(init_catalog(f"sqlite:///{tmp_path / 'catalog.db'}"))() as session:
        actions = {e.action for e in audit_entries(session)}
    assert {"create_watchlist", "read_watchlist_hits"} <= actions


def test_add_takes_the_case_as_the_other_commands_do(case_id: str) -> None:
    # `skynet case open` prints the id "for --case" (plates search, export build): same here
    assert "watchlist 1 (van): 1 plate(s)" in run(
        "add", "van", "京B7720", "--case", case_id, "--purpose", "theft", "--days", "1"
    )
    assert case_id in CliRunner().invoke(app, ["watchlist", "list"], terminal_width=200).output
