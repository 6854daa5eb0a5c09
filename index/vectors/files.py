"""Crash-safe index files: data files under fresh names, then one manifest swapped in atomically.

The manifest at the index path names every data file of one snapshot. Data files are written
and fsynced first; `os.replace` of the manifest is the commit point, so a crash leaves either the
old or the new manifest, each naming complete files. Files only the old manifest named are
deleted after the switch.
"""

from __future__ import annotations

import contextlib
import json
import os
import uuid
from pathlib import Path
from typing import Any

MANIFEST_FORMAT = "skynet-vectors-1"


def fresh_name(path: Path, tag: str, suffix: str) -> Path:
    """A new, unused data file name next to the manifest at `path`."""
    return path.with_name(f"{path.name}.{tag}-{uuid.uuid4().hex[:12]}{suffix}")


def fsync_file(path: Path) -> None:
    with path.open("rb") as handle:
        os.fsync(handle.fileno())


def fsync_directory(directory: Path) -> None:
    handle = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(handle)
    finally:
        os.close(handle)


def read_manifest(path: Path) -> dict[str, Any] | None:
    """The manifest at `path`, or None when `path` is a bare FAISS file of the older format."""
    head = path.read_bytes()[:1]
    if head != b"{":
        return None
    manifest: dict[str, Any] = json.loads(path.read_text())
    if manifest.get("format") != MANIFEST_FORMAT:
        raise ValueError(f"{path}: unknown vector index format {manifest.get('format')!r}")
    return manifest


def commit_manifest(path: Path, manifest: dict[str, Any]) -> None:
    """Atomically make `manifest` current, then delete files only the previous one named."""
    previous = _readable_manifest(path)
    body = {"format": MANIFEST_FORMAT, **manifest}
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(body, indent=1, sort_keys=True))
    fsync_file(tmp)
    os.replace(tmp, path)
    fsync_directory(path.parent)
    if previous is not None:
        kept = set(body.get("files", {}).values())
        for name in set(previous.get("files", {}).values()) - kept:
            with contextlib.suppress(FileNotFoundError):
                (path.parent / name).unlink()


def _readable_manifest(path: Path) -> dict[str, Any] | None:
    try:
        return read_manifest(path) if path.exists() else None
    except (ValueError, OSError):
        return None
