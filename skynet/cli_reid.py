"""`skynet reid learn --from … --to …`: learn the re-ID metric from the catalog's own tracks
(issue #16), with no human labels, and write it as a new versioned file.

The metric is learned on the configured embedder's base vectors; the file is not put live here:
point SKYNET_REID_METRIC_PATH at it and re-index, since its vectors are a new embedding version
(the shadow-index switch of `skynet reindex`). Too few tracks: a message, exit status 1, and the
current metric stays as it is.
"""

from __future__ import annotations

import getpass
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from detect.reid_metric import DEFAULT_CONTRAST, DEFAULT_PCA_DIM, DEFAULT_SHRINKAGE
from skynet.cli_catalog import catalog_sessions
from skynet.settings import Settings
from skynet.wording import counted

reid = typer.Typer(help="Re-identification: the metric the deployment learns from its tracks")
console = Console()


def _moment(value: str, option: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as error:
        raise typer.BadParameter(f"{option}: {error}") from error
    if moment.tzinfo is None:
        raise typer.BadParameter(f"{option}: give a UTC offset, e.g. 2026-12-01T08:00+08:00")
    return moment


@reid.command("learn")
def reid_learn(
    start: Annotated[str, typer.Option("--from", help="ISO 8601 with offset")],
    end: Annotated[str, typer.Option("--to", help="ISO 8601 with offset")],
    out: Annotated[
        Path | None, typer.Option(help="directory for the metric file (default: models_dir)")
    ] = None,
    max_views: Annotated[int, typer.Option(min=2, max=32, help="views cut per track")] = 8,
    pca_dim: Annotated[int, typer.Option(min=4, max=512, help="PCA size")] = DEFAULT_PCA_DIM,
    shrinkage: Annotated[
        float, typer.Option(min=0.0, help="share of the mean variance added to covariances")
    ] = DEFAULT_SHRINKAGE,
    contrast: Annotated[
        bool, typer.Option(help="KISSME: also contrast with co-occurring tracks' views")
    ] = DEFAULT_CONTRAST,
) -> None:
    """Learn a metric from the person tracks overlapping [--from, --to): views of one track are
    the same person, tracks overlapping in time on one camera are different people. Defaults:
    the setting chosen on the vtest tune split (BENCHMARKS.md)."""
    from detect.embedder import AppearanceEmbedder
    from detect.reid_metric import MetricError, TooFewTracks, learn_metric
    from index.catalog import append_audit
    from index.reid_learning import LearningSource, catalog_track_views, count_tracks
    from models.registry import model_path
    from skynet.object_store import open_object_store

    settings = Settings()
    try:
        source = LearningSource(_moment(start, "--from"), _moment(end, "--to"), ("person",),
                                max_views)  # fmt: skip
    except ValueError as error:
        raise typer.BadParameter(str(error)) from error
    # The metric is learned on base vectors, whatever metric is live now.
    embedder = AppearanceEmbedder(model_path(settings.embedder_model, settings.models_dir))
    sessions = catalog_sessions(settings)
    total = count_tracks(sessions, source)
    console.print(f"{total} person tracks between {source.start} and {source.end}")
    columns = (
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()
    )  # fmt: skip
    with Progress(*columns, console=console) as progress:
        cutting = progress.add_task("cutting views from recordings (segments)", total=None)
        views = catalog_track_views(
            sessions,
            open_object_store(settings),
            lambda crops: embedder.embed_base(crops, ["person"] * len(crops)),
            source,
            lambda done, of: progress.update(cutting, completed=done, total=of),
        )
        pairing = progress.add_task("pairing views (tracks)", total=len(views))
        try:
            metric = learn_metric(
                views,
                embedder.base_embedding_version,
                pca_dim,
                {"from": source.start.isoformat(), "to": source.end.isoformat()},
                lambda done: progress.update(pairing, completed=done),
                shrinkage=shrinkage,
                contrast=contrast,
            )
        except TooFewTracks as error:
            console.print(f"[red]not learned: {error}; the current metric stays[/red]")
            raise typer.Exit(1) from None
        except MetricError as error:
            console.print(f"[red]not learned: {error}[/red]")
            raise typer.Exit(1) from None
    path = metric.save(out or settings.models_dir)
    with sessions() as session:
        append_audit(
            session,
            principal=f"cli:{getpass.getuser()}",
            role="admin",
            action="reid.learn",
            filters={"from": source.start.isoformat(), "to": source.end.isoformat()},
            hit_count=metric.counts.tracks,
            target=path.name,
        )
        session.commit()
    counts = metric.counts
    console.print(
        f"metric {metric.metric_id}: {counted(counts.tracks, 'track')}, {counts.same_pairs}"
        " same-track and "
        f"{counts.different_pairs} co-occurring pairs → {path}\n"
        f"embedding version {metric.embedding_version()} ({metric.dim} floats). To use it: "
        f"SKYNET_REID_METRIC_PATH={path}, then re-index (a new embedding version goes live "
        "through the shadow-index switch)."
    )
