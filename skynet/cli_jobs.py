"""`skynet jobs list|show|pause|resume|cancel`, `skynet reindex …` and `skynet index
versions|switch|retire` (issue #15).

`skynet reindex` queues a job that a running `skynet serve` runs (or, with `--run`, this
command runs it in-process and shows its progress). The job commands act on the catalog, so
they work whichever process runs the job; pause and cancel take effect between segments.
"""

from __future__ import annotations

import getpass
import time
from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console, Group
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn
from rich.progress_bar import ProgressBar
from rich.text import Text

from skynet.cli_catalog import catalog_sessions
from skynet.cli_tables import handle_column, whole_table
from skynet.settings import Settings
from skynet.wording import counted

if TYPE_CHECKING:
    from index.reindex_jobs import ReindexProgress

jobs = typer.Typer(help="Background jobs (re-index, exports, searches): progress and control")
console = Console()
FOLLOW_EVERY_S = 1.0


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def _rate(progress: ReindexProgress) -> str:
    rate = progress.footage_per_wall_s
    return "–" if rate is None else f"{rate:.1f}× real time"


MIN_JOB_PREFIX = 4  # as git: a shorter prefix is too easily someone else's job


def job_id_of(given: str) -> str:
    """The job id `given` is, or uniquely starts (like a git commit); BadParameter naming an
    unknown or ambiguous prefix."""
    from index.catalog.jobs import get_job, job_ids_starting

    with catalog_sessions(Settings())() as session:
        if get_job(session, given) is not None:
            return given
        found = job_ids_starting(session, given, 3) if len(given) >= MIN_JOB_PREFIX else []
    if len(found) == 1:
        return found[0]
    if found:
        more = "" if len(found) < 3 else ", …"
        raise typer.BadParameter(
            f"job id prefix {given!r} is ambiguous ({', '.join(found[:2])}{more}):"
            " give more of the id"
        )
    short = f" (a prefix needs {MIN_JOB_PREFIX}+ characters)" if len(given) < MIN_JOB_PREFIX else ""
    raise typer.BadParameter(f"no job {given!r}{short}; see `skynet jobs list`")


JobIdArgument = Annotated[
    str, typer.Argument(help="the job's id or a unique prefix of it (4+ characters)")
]


def _load(job_id: str) -> ReindexProgress:
    from index.reindex_jobs import reindex_progress

    with catalog_sessions(Settings())() as session:
        progress = reindex_progress(session, job_id)
    if progress is None:
        console.print(f"[red]no job {job_id!r}[/red]")
        raise typer.Exit(1)
    return progress


@jobs.command("list")
def jobs_list(
    kind: Annotated[str | None, typer.Option(help="only jobs of this kind, e.g. reindex")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
) -> None:
    """Jobs, newest first, with a progress bar each."""
    from index.catalog.reindex import list_jobs
    from index.catalog.reindex_units import unit_progress

    with catalog_sessions(Settings())() as session:
        found = list_jobs(session, kind, limit)
        units = {j.id: unit_progress(session, j.id) for j in found if j.kind == "reindex"}
    # four columns, values stacked in their cells: the whole id fits an 80-column terminal
    table = whole_table(
        handle_column("id", (job.id for job in found)), "state, kind", "progress", "created (UTC)"
    )
    for job in found:
        result = job.result or {}
        unit = units.get(job.id)
        rate = result.get("footage_per_wall_s")
        figures = [
            "" if unit is None else f"{unit.done + unit.skipped}/{unit.total} segments",
            "" if rate is None else f"{rate:.1f}×",
            f"ETA {_duration(result.get('eta_s'))}" if job.state == "running" and unit else "",
            f"{job.progress:.0%}" if job.state == "running" and unit is None else "",
        ]
        progress = Group(
            *(Text(figure) for figure in figures if figure),
            ProgressBar(total=1.0, completed=job.progress, width=12),
        )
        table.add_row(
            job.id, f"{job.state}\n{job.kind}", progress, f"{job.created_at:%Y-%m-%d\n%H:%M:%S}"
        )
    console.print(table)


def _show(progress: ReindexProgress) -> None:
    from index.catalog.reindex import REINDEX_JOB_KIND

    job, units = progress.job, progress.units
    result = job.result or {}
    console.print(f"job {job.id}  {job.kind}  [bold]{job.state}[/bold]")
    for key, value in job.params.items():
        console.print(f"  {key}: {value}")
    if job.kind != REINDEX_JOB_KIND:  # an export or search job: no segments, speed or ETA
        console.print(f"  progress {job.progress:.0%}")
        for key, value in result.items():
            console.print(f"  {key}: {value}", markup=False)
        if job.error:
            console.print(f"  {job.error}", style="red", markup=False)
        return
    console.print(
        f"  segments {units.done} done, {units.skipped} skipped, {units.pending} pending of"
        f" {units.total}; footage {_duration(units.finished_footage_s)} of"
        f" {_duration(units.footage_s)}; {counted(units.tracks, 'track')},"
        f" {progress.tracks_replaced} replaced, {result.get('plates_read', 0)} plates read"
    )
    console.print(f"  speed {_rate(progress)}, ETA {_duration(progress.eta_s)}")
    if result.get("live_until"):
        console.print(
            f"  live cameras' segments ending after {result['live_until']} left out"
            f" ({result.get('live_segments_left_out', 0)} when planned): live analysis may"
            " still hold tracks open that started in them"
        )
    if result.get("switch_refused"):  # the job succeeded, its version stays a shadow
        console.print(f"  not switched live: {result['switch_refused']}", style="yellow",
                      markup=False)  # fmt: skip
    elif result.get("switched"):
        console.print(f"  switched live: {result['version']}", markup=False)
    if job.error:
        console.print(f"  [red]{job.error}[/red]")
    for key, reason in progress.skipped:
        console.print(f"  [yellow]skipped {key}: {reason}[/yellow]")


def follow(job_id: str) -> ReindexProgress:
    """A rich progress bar of the job until it ends (or stops running): a re-index job's
    segments, speed and ETA; another kind's own fraction done."""
    from index.catalog.reindex import REINDEX_JOB_KIND

    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[detail]}"),
    )
    progress = _load(job_id)
    with Progress(*columns, console=console) as bar:
        task = bar.add_task(job_id[:8], total=1, detail="")
        while True:
            job, units = progress.job, progress.units
            finished = units.done + units.skipped
            ended = job.state not in ("queued", "running")
            if job.kind != REINDEX_JOB_KIND:  # an export or search job: no segments
                bar.update(task, total=1, completed=job.progress, detail=job.state)
            else:  # a job with no segments has nothing left to do once it ended: full, "0/0"
                bar.update(
                    task,
                    total=max(units.total, 1),
                    completed=1 if units.total == 0 and ended else finished,
                    detail=f"{finished}/{units.total} segments · {_rate(progress)}"
                    f"  ETA {_duration(progress.eta_s)}",
                )
            if ended:
                return progress
            time.sleep(FOLLOW_EVERY_S)
            progress = _load(job_id)


@jobs.command("show")
def jobs_show(
    job_id: JobIdArgument,
    watch: Annotated[bool, typer.Option("--follow", help="live progress until it ends")] = False,
) -> None:
    """A job's request, segments, speed, ETA and the segments it skipped (and why)."""
    full_id = job_id_of(job_id)
    _show(follow(full_id) if watch else _load(full_id))


def _change(job_id: str, verb: str) -> None:
    from index.catalog import append_audit
    from index.catalog.jobs import job_state_phrase
    from index.catalog.reindex import cancel_job, pause_job, resume_job

    action = {"pause": pause_job, "resume": resume_job, "cancel": cancel_job}[verb]
    with catalog_sessions(Settings())() as session:
        changed = action(session, job_id)
        if changed:
            append_audit(
                session, principal=f"cli:{getpass.getuser()}", role="admin",
                action=f"job_{verb}", target=f"job:{job_id}",
            )  # fmt: skip
        session.commit()
    progress = _load(job_id)
    state = job_state_phrase(progress.job.state)
    if not changed:
        console.print(f"[yellow]job {job_id} {state}: nothing to {verb}[/yellow]")
        raise typer.Exit(1)
    console.print(f"job {job_id} {state}")


@jobs.command("pause")
def jobs_pause(job_id: JobIdArgument) -> None:
    """Pause a job after the segments in flight (resume goes on from there)."""
    _change(job_id_of(job_id), "pause")


@jobs.command("resume")
def jobs_resume(job_id: JobIdArgument) -> None:
    """Queue a paused job again: the next runner goes on with its pending segments."""
    _change(job_id_of(job_id), "resume")


@jobs.command("cancel")
def jobs_cancel(job_id: JobIdArgument) -> None:
    """Cancel a job (what it stored stays; its version is never switched live)."""
    _change(job_id_of(job_id), "cancel")


def reindex(
    cameras: Annotated[list[str], typer.Option("--camera", help="a camera id (repeat)")],
    start: Annotated[datetime, typer.Option("--from", help="UTC, e.g. 2026-12-01T08:00:00")],
    end: Annotated[datetime, typer.Option("--to", help="UTC end (exclusive)")],
    detector: Annotated[str | None, typer.Option(help="detector registry name")] = None,
    embedder: Annotated[str | None, typer.Option(help="embedder model name")] = None,
    priority: Annotated[int, typer.Option(min=0, max=10, help="higher runs first")] = 0,
    switch: Annotated[bool, typer.Option(help="make the new version live when done")] = True,
    run: Annotated[bool, typer.Option(help="run it here (no `skynet serve` needed)")] = False,
) -> None:
    """Re-index cameras' recorded segments over [--from, --to) with a detector and embedder
    (default: the live ones): a new embedder builds a shadow index, switched live when done."""
    from datetime import UTC

    from index.catalog import append_audit
    from index.reindex_jobs import ReindexRequest, start_reindex

    settings = Settings()
    try:
        request = ReindexRequest(
            tuple(cameras),
            start if start.tzinfo else start.replace(tzinfo=UTC),
            end if end.tzinfo else end.replace(tzinfo=UTC),
            detector or settings.detector_model,
            embedder or settings.embedder_model,
            priority,
            switch,
        )
    except ValueError as error:
        console.print(f"[red]{error}[/red]")
        raise typer.Exit(2) from error
    sessions = catalog_sessions(settings)
    with sessions() as session:
        try:
            job_id = start_reindex(session, request, f"cli:{getpass.getuser()}")
        except LookupError as error:
            console.print(f"[red]{error}[/red]")
            raise typer.Exit(2) from error
        append_audit(
            session, principal=f"cli:{getpass.getuser()}", role="admin", action="reindex",
            filters=request.params(), target=f"job:{job_id}",
        )  # fmt: skip
        session.commit()
    console.print(f"queued re-index job {job_id}")
    if run:
        _run_here(settings, job_id)
        _show(_load(job_id))


def _run_here(settings: Settings, job_id: str) -> None:
    """Run the queued jobs in this process with a progress bar of this one."""
    import threading

    from skynet.reindex_service import ReindexService
    from skynet.runtime import open_object_store

    service = ReindexService(settings, catalog_sessions(settings), open_object_store(settings))
    worker = threading.Thread(target=service.runner.run_next, daemon=True)
    worker.start()
    follow(job_id)
    worker.join()


def index_versions() -> None:
    """Index versions: live, kept (the previous live one), building, retired."""
    from index.catalog.reindex import index_versions as versions

    with catalog_sessions(Settings())() as session:
        found = versions(session)
    # one block per version, not a table: a version (what switch and retire take) is up to 73
    # characters, which left a table's other columns no room on an 80-column terminal
    for v in found:
        switched = "" if v.switched_at is None else f", switched {v.switched_at:%Y-%m-%d %H:%M}"
        console.print(v.version, markup=False, highlight=False, soft_wrap=True)
        console.print(
            f"  {v.state} · detector {v.detector} · embedder {v.embedder}\n"
            f"  created {v.created_at:%Y-%m-%d %H:%M}{switched}",
            markup=False, highlight=False,
        )  # fmt: skip


def _versions_call(verb: str, version: str) -> None:
    from index.catalog import append_audit
    from index.index_versions import IndexVersions

    settings = Settings()
    sessions = catalog_sessions(settings)
    versions = IndexVersions(sessions, settings.vectors_dir)
    try:
        done = versions.switch(version) if verb == "switch" else versions.retire(version)
    except (LookupError, ValueError, FileNotFoundError) as error:
        console.print(f"[red]{error}[/red]")
        raise typer.Exit(2) from error
    with sessions() as session:
        append_audit(
            session, principal=f"cli:{getpass.getuser()}", role="admin",
            action=f"index_{verb}", target=f"index:{version}",
        )  # fmt: skip
        session.commit()
    console.print(f"index version {done.version} is {done.state}")


def index_switch(version: str) -> None:
    """Make a built version live (a running server's searches follow within seconds)."""
    _versions_call("switch", version)


def index_retire(version: str) -> None:
    """Remove a version's vector index (not the live one); its tracks stay as history."""
    _versions_call("retire", version)


def add_reindex_commands(app: typer.Typer, index: typer.Typer) -> None:
    """`skynet jobs …`, `skynet reindex` and `skynet index versions|switch|retire`."""
    app.add_typer(jobs, name="jobs", no_args_is_help=True)
    app.command("reindex")(reindex)
    index.command("versions")(index_versions)
    index.command("switch")(index_switch)
    index.command("retire")(index_retire)
