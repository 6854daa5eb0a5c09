"""What a re-index request may name: a detector of the registry, an embedder of the manifest,
optionally through a learned re-ID metric (`<manifest>+reid:<id>`, as `skynet reid learn` names
it), so a new metric goes live through a re-index and its shadow-index switch."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from index.reindex_jobs import ReindexRequest

START = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


def request(embedder: str) -> ReindexRequest:
    return ReindexRequest(("cam1",), START, START + timedelta(hours=1), "nanodet-int8", embedder)


def test_a_learned_metric_is_named_after_its_trunk() -> None:
    named = request("mobilenetv2-embedder+reid:003008dfb27d")
    assert ReindexRequest.from_params(named.params()) == named


@pytest.mark.parametrize(
    "embedder",
    ["bogus", "bogus+reid:00ff", "mobilenetv2-embedder+reid:../../etc", "mobilenetv2-embedder+"],
)
def test_other_embedder_names_are_refused_naming_the_choices(embedder: str) -> None:
    with pytest.raises(ValueError, match=r"unknown embedder .*\+reid:<metric id>"):
        request(embedder)
