"""`skynet footage add FILE… --label NAME` and `skynet footage list` (issue #15): upload video
files as footage of an offline camera, to a server (`--server URL --api-key KEY`, through the
resumable upload API) or straight into this host's catalog and store.

An interrupted upload resumes: the file's sha256 finds the unfinished upload of the same file
and label, and only its missing parts are sent. Each file is its own upload; a refused file is
reported and the next one goes on (the exit code is 1 when any failed).
"""

from __future__ import annotations

import getpass
import hashlib
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Protocol

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.text import Text

from skynet.cli_catalog import catalog_sessions
from skynet.cli_tables import handle_column, whole_table
from skynet.settings import Settings
from skynet.wording import counted

if TYPE_CHECKING:
    import httpx

    from index.footage_ingest import FootageService

footage = typer.Typer(help="Offline footage: uploaded video files of an offline camera")
console = Console()
UPLOADS_PATH = "/api/v1/footage/uploads"
POLL_S = 1.0
HASH_CHUNK_BYTES = 4 * 1024 * 1024
Upload = dict[str, Any]  # an upload as the API shows it (FootageUploadOut)
# the upload's fields the user sets with an option of `footage add`, as the API names them
OPTION_OF_FIELD = {"start_time": "--start", "camera_label": "--label", "lat": "--lat",
                   "lon": "--lon", "heading": "--heading"}  # fmt: skip
API_FIELD = re.compile(rf"(?<![\w.-])(?:body\.)?({'|'.join(OPTION_OF_FIELD)})\b")


class FootageCliError(Exception):
    """The server or the service refused; the message says why."""


def in_cli_terms(message: str) -> str:
    """A refusal of the API or the service with the fields it names ("start_time",
    "body.lat") called by the options the user typed ("--start", "--lat")."""
    return API_FIELD.sub(lambda field: OPTION_OF_FIELD[field.group(1)], message)


class UploadTarget(Protocol):
    """Where uploads go: a server's API or this host's catalog; uploads as API documents."""

    def find(self, sha256: str) -> list[Upload]: ...

    def start(self, body: dict[str, Any]) -> Upload: ...

    def put_part(self, upload_id: str, number: int, data: bytes) -> Upload: ...

    def complete(self, upload_id: str) -> Upload: ...

    def uploads(self) -> list[Upload]: ...


class ServerTarget:
    """The resumable upload API of a running server."""

    def __init__(self, client: httpx.Client) -> None:
        self.client = client

    def _call(self, method: str, url: str, **kwargs: Any) -> Any:
        import httpx

        try:
            response = self.client.request(method, url, **kwargs)
        except httpx.HTTPError as error:
            raise FootageCliError(f"server unreachable: {error}") from error
        if response.status_code >= 400:
            try:
                detail = response.json().get("detail", response.text)
            except ValueError:
                detail = response.text
            code = response.status_code
            if code == 401:
                raise FootageCliError(f"the server refused --api-key: {detail}")
            raise FootageCliError(detail if code < 500 else f"server error {code}: {detail}")
        return response.json()

    def find(self, sha256: str) -> list[Upload]:
        found: list[Upload] = self._call("GET", UPLOADS_PATH, params={"sha256": sha256})
        return found

    def start(self, body: dict[str, Any]) -> Upload:
        created: Upload = self._call("POST", UPLOADS_PATH, json=body)
        return created

    def put_part(self, upload_id: str, number: int, data: bytes) -> Upload:
        headers = {"Content-Type": "application/octet-stream"}
        url = f"{UPLOADS_PATH}/{upload_id}/parts/{number}"
        stored: Upload = self._call("PUT", url, content=data, headers=headers)
        return stored

    def complete(self, upload_id: str) -> Upload:
        upload: Upload = self._call("POST", f"{UPLOADS_PATH}/{upload_id}/complete")
        while upload["state"] == "processing":
            time.sleep(POLL_S)
            upload = self._call("GET", f"{UPLOADS_PATH}/{upload_id}")
        return upload

    def uploads(self) -> list[Upload]:
        found: list[Upload] = self._call("GET", UPLOADS_PATH)
        return found


class LocalTarget:
    """This host's catalog and object store (the settings of every other command)."""

    def __init__(self, service: FootageService, user: str) -> None:
        from index.footage_ingest import Actor

        self.service = service
        self.actor = Actor(f"cli:{user}", "admin", f"cli:{user}")

    @staticmethod
    def _document(upload: Any) -> Upload:
        from search_api.footage_schemas import FootageUploadOut

        return FootageUploadOut.of(upload).model_dump(mode="json")

    def _refused(self, action: Callable[[], Any]) -> Upload:
        from index.catalog import UnknownUploadError
        from index.footage_ingest import FootageError

        try:
            return self._document(action())
        except (FootageError, UnknownUploadError) as error:
            raise FootageCliError(str(error)) from error

    def find(self, sha256: str) -> list[Upload]:
        from index.catalog.footage import list_footage_uploads

        with self.service.sessions() as session:
            found = list_footage_uploads(session, created_by=self.actor.owner, sha256=sha256)
        return [self._document(upload) for upload in found]

    def start(self, body: dict[str, Any]) -> Upload:
        from index.footage_ingest import FootageRequest

        start_time = body.get("start_time")
        request = FootageRequest(
            body["filename"], body["size"], body["camera_label"], body["sha256"],
            body.get("lat"), body.get("lon"), body.get("heading"),
            None if start_time is None else datetime.fromisoformat(start_time),
        )  # fmt: skip
        return self._refused(lambda: self.service.start_upload(request, self.actor))

    def put_part(self, upload_id: str, number: int, data: bytes) -> Upload:
        return self._refused(lambda: self.service.put_part(upload_id, number, data))

    def complete(self, upload_id: str) -> Upload:
        return self._refused(lambda: self.service.complete(upload_id, self.actor))

    def uploads(self) -> list[Upload]:
        from index.catalog.footage import list_footage_uploads

        with self.service.sessions() as session:
            return [self._document(upload) for upload in list_footage_uploads(session)]


def local_target(settings: Settings) -> LocalTarget:
    from index.footage_ingest import FootageService, reindex_analysis
    from skynet.runtime import footage_policy, open_object_store

    service = FootageService(
        catalog_sessions(settings),
        open_object_store(settings),
        footage_policy(settings),
        reindex_analysis(settings.detector_model, settings.embedder_model),
    )
    return LocalTarget(service, getpass.getuser())


def target_for(server: str | None, api_key: str | None) -> UploadTarget:
    if server is None:
        if api_key is not None:
            raise typer.BadParameter("--api-key goes with --server", param_hint="--api-key")
        return local_target(Settings())
    if not api_key:
        raise typer.BadParameter("--server needs --api-key", param_hint="--api-key")
    import httpx

    client = httpx.Client(
        base_url=server.rstrip("/"), headers={"X-API-Key": api_key}, timeout=120.0
    )
    return ServerTarget(client)


def file_sha256(path: Path, progress: Progress) -> str:
    task = progress.add_task(f"hash   {path.name}", total=path.stat().st_size)
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(HASH_CHUNK_BYTES):
            digest.update(chunk)
            progress.advance(task, len(chunk))
    progress.remove_task(task)
    return digest.hexdigest()


def upload_file(
    target: UploadTarget, path: Path, fields: dict[str, Any], progress: Progress
) -> Upload:
    """Upload one file (resuming an unfinished upload of it), complete it, return the result."""
    size = path.stat().st_size
    sha256 = file_sha256(path, progress)
    unfinished = [
        upload for upload in target.find(sha256)
        if upload["state"] == "receiving" and upload["size"] == size
        and upload["camera_label"] == fields["camera_label"].strip()
    ]  # fmt: skip
    if unfinished:
        upload = unfinished[0]
        progress.console.print(
            f"{path.name}: resuming upload {upload['id']} "
            f"({len(upload['parts_received'])}/{upload['part_count']} parts already sent)"
        )
    else:
        body = {"filename": path.name, "size": size, "sha256": sha256, **fields}
        upload = target.start(body)
    part_bytes = upload["part_bytes"]
    sent = sum(min(part_bytes, size - n * part_bytes) for n in upload["parts_received"])
    task = progress.add_task(f"upload {path.name}", total=size, completed=sent)
    with path.open("rb") as stream:
        for number in upload["missing_parts"]:
            stream.seek(number * part_bytes)
            data = stream.read(part_bytes)
            target.put_part(upload["id"], number, data)
            progress.advance(task, len(data))
    progress.update(task, description=f"cut    {path.name}")
    return target.complete(upload["id"])


def parse_start(text: str | None) -> str | None:
    """`--start`: an ISO 8601 time; without an offset it is read as UTC."""
    if text is None:
        return None
    try:
        at = datetime.fromisoformat(text.strip())
    except ValueError as error:
        raise typer.BadParameter(
            f"{text!r} is not an ISO 8601 time such as 2026-03-01T12:00Z", param_hint="--start"
        ) from error
    return (at if at.tzinfo is not None else at.replace(tzinfo=UTC)).isoformat()


def describe(path: Path, upload: Upload) -> str:
    if upload["state"] != "stored":
        return f"{path.name}: refused: {in_cli_terms(str(upload.get('error')))}"
    report = upload["report"] or {}
    line = (
        f"{path.name}: stored as camera {upload['camera_id']}: "
        f"{counted(report.get('segments') or 0, 'segment')}, {report.get('footage_s')} s from "
        f"{report.get('start_at')}"
    )
    if report.get("analysis_job"):
        line += f"; analysis job {report['analysis_job']}"
    for damage in report.get("damage") or []:
        line += f"\n  damage: {damage}"
    return line


@footage.command("add")
def footage_add(
    files: Annotated[list[Path], typer.Argument(help="video files (MP4, MKV, AVI, MOV, TS)")],
    label: Annotated[str, typer.Option(help="the offline camera (source) the footage is of")],
    start: Annotated[
        str | None,
        typer.Option(help="ISO 8601 start time (UTC if no offset); default: the file's own"),
    ] = None,
    lat: Annotated[float | None, typer.Option(help="latitude of the source, with --lon")] = None,
    lon: Annotated[float | None, typer.Option(help="longitude of the source")] = None,
    heading: Annotated[float | None, typer.Option(help="compass heading of the view")] = None,
    server: Annotated[
        str | None, typer.Option(help="API base URL (default: this host's catalog and store)")
    ] = None,
    api_key: Annotated[str | None, typer.Option(help="API key, with --server")] = None,
) -> None:
    """Upload video files as footage of an offline camera; each is cut into recorded segments
    and queued for analysis. An interrupted upload resumes when run again."""
    if (lat is None) != (lon is None):
        raise typer.BadParameter("give --lat and --lon together")
    if start is not None and len(files) > 1:  # the second file would overlap the first
        raise typer.BadParameter(
            "one --start for several files of one --label puts them all at the same time: add "
            "each file with its own --start (without it, each file's own creation_time)",
            param_hint="--start",
        )
    for path in files:
        if not path.is_file():
            raise typer.BadParameter(f"{path} is not a file", param_hint="FILES")
    fields = {"camera_label": label, "start_time": parse_start(start), "lat": lat, "lon": lon,
              "heading": heading}  # fmt: skip
    target = target_for(server, api_key)
    columns = (
        TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
        TimeRemainingColumn(),
    )  # fmt: skip
    failed = 0
    # piped or redirected: no bar (rich would draw its last state after the result lines)
    with Progress(*columns, console=console, disable=not console.is_terminal) as progress:
        for path in files:
            try:
                result = upload_file(target, path, fields, progress)
            except FootageCliError as error:
                result = {"state": "failed", "error": str(error)}
            failed += result["state"] != "stored"
            progress.console.print(describe(path, result), markup=False, highlight=False)
    if failed:
        raise typer.Exit(1)


@footage.command("list")
def footage_list(
    server: Annotated[str | None, typer.Option(help="API base URL")] = None,
    api_key: Annotated[str | None, typer.Option(help="API key, with --server")] = None,
) -> None:
    """List footage uploads, newest first: file, camera, state, segments or error."""
    try:
        uploads = target_for(server, api_key).uploads()
    except FootageCliError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(1) from error
    # values stacked in their cells, the camera id (what reindex --camera takes) whole: the
    # eight columns cut the camera, file and start time to "shop-7-…" on an 80-column terminal
    table = whole_table(
        "upload, file", handle_column("camera", (u["camera_id"] for u in uploads)),
        "state", "start (UTC)", "error",
    )  # fmt: skip
    for upload in uploads:
        report = upload.get("report") or {}
        parts = f"{len(upload['parts_received'])}/{upload['part_count']} parts"
        segments = counted(report["segments"], "segment") if "segments" in report else ""
        start = (upload.get("start_at") or "-")[:19].replace("T", "\n")
        table.add_row(  # file names and errors as plain text: "[mov,mp4 @ 0x…]" is no markup
            Text(f"{upload['id'][:12]}\n{upload['filename']}"), upload["camera_id"],
            "\n".join(filter(None, (upload["state"], parts, segments))), start,
            Text(in_cli_terms(upload.get("error") or "")),
        )  # fmt: skip
    console.print(table)
