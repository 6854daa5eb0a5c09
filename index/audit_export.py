"""The audit log as a file an auditor can take away (issue #17): JSON Lines or CSV, the entries
in chain order, then the signed checkpoints and the public key that checks them. Times are
written exactly as they are hashed (index/catalog/audit_chain.py), so a complete export can be
re-verified without the database."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Literal

from index.catalog import AuditCheckpoint, AuditEntry
from index.catalog.audit_chain import canonical_time

ExportFormat = Literal["jsonl", "csv"]
EXPORT_FORMATS: tuple[ExportFormat, ...] = ("jsonl", "csv")
MEDIA_TYPES = {"jsonl": "application/x-ndjson", "csv": "text/csv"}
CSV_COLUMNS = (
    "record", "seq", "id", "at", "principal", "role", "action", "query_type", "case_id",
    "purpose", "filters", "image_sha256", "hit_count", "target", "entry_hash", "signed_at",
    "signature", "key_fingerprint", "public_key",
)  # fmt: skip


def entry_record(entry: AuditEntry) -> dict[str, object]:
    return {
        "record": "entry", "seq": entry.seq, "id": entry.id, "at": canonical_time(entry.at),
        "principal": entry.principal, "role": entry.role, "action": entry.action,
        "query_type": entry.query_type, "case_id": entry.case_id, "purpose": entry.purpose,
        "filters": dict(entry.filters), "image_sha256": entry.image_sha256,
        "hit_count": entry.hit_count, "target": entry.target, "entry_hash": entry.entry_hash,
    }  # fmt: skip


def checkpoint_record(point: AuditCheckpoint) -> dict[str, object]:
    return {
        "record": "checkpoint", "seq": point.seq, "entry_hash": point.entry_hash,
        "signed_at": canonical_time(point.signed_at), "signature": point.signature,
        "key_fingerprint": point.key_fingerprint,
    }  # fmt: skip


def export_lines(
    entries: Iterable[AuditEntry],
    checkpoints: Iterable[AuditCheckpoint],
    public_key_b64: str,
    fmt: ExportFormat,
) -> Iterator[str]:
    """The export, one line (with its newline) at a time: entries, checkpoints, the key."""
    key: dict[str, object] = {"record": "key", "public_key": public_key_b64}
    if fmt == "jsonl":
        for entry in entries:
            yield json.dumps(entry_record(entry), ensure_ascii=False) + "\n"
        for point in checkpoints:
            yield json.dumps(checkpoint_record(point), ensure_ascii=False) + "\n"
        yield json.dumps(key) + "\n"
        return
    if fmt != "csv":
        raise ValueError(f"audit export format {fmt!r} is not one of {EXPORT_FORMATS}")
    yield _csv_line(dict(zip(CSV_COLUMNS, CSV_COLUMNS, strict=True)))
    for entry in entries:
        record = entry_record(entry)
        record["filters"] = json.dumps(record["filters"], ensure_ascii=False, sort_keys=True)
        yield _csv_line(record)
    for point in checkpoints:
        yield _csv_line(checkpoint_record(point))
    yield _csv_line(key)


def read_checkpoints(text: str) -> list[AuditCheckpoint]:
    """The checkpoints of an earlier export (JSON Lines or CSV), to verify the database
    against: ValueError naming the line that is not a checkpoint record as written here."""
    if text.lstrip().startswith("{"):
        records = [json.loads(line) for line in text.splitlines() if line.strip()]
    else:
        records = list(csv.DictReader(io.StringIO(text)))
    points = []
    for number, record in enumerate(records, start=1):
        if record.get("record") != "checkpoint":
            continue
        try:
            points.append(
                AuditCheckpoint(
                    int(record["seq"]),
                    str(record["entry_hash"]),
                    datetime.fromisoformat(str(record["signed_at"])),
                    str(record["signature"]),
                    str(record["key_fingerprint"]),
                )
            )
        except (KeyError, ValueError) as error:
            raise ValueError(f"record {number} is not a checkpoint: {error}") from error
    return points


def _csv_line(record: dict[str, object]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer).writerow(["" if record.get(c) is None else record[c] for c in CSV_COLUMNS])
    return buffer.getvalue()
