"""The audit log's hash chain (issue #17): canonical entry content, content and entry hashes,
and the message an Ed25519 checkpoint signs. Pure functions, no SQL: the repository
(index/catalog/audit.py), migration 0013 and the verifier all hash through here, so an entry
hashed at append time hashes the same when it is checked years later.

content hash = SHA-256 of the entry's canonical JSON (every field of `AuditEntry` but its place
in the chain — id, seq, entry hash —, the time included, sorted keys, no spaces); entry hash =
SHA-256 of "prev_hash|content_hash|seq". Editing a field breaks its content hash; inserting or
removing an entry breaks the next entry's link; rewriting the whole chain after an edit breaks
the signature of every checkpoint past the edit. Adding a field to `AuditEntry` changes every
content hash: tests/catalog/test_audit_content_hash.py pins the canonical bytes.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import fields
from datetime import UTC, datetime
from typing import Any

from index.catalog.values import AuditEntry

GENESIS_HASH = "0" * 64  # the `prev_hash` of entry 1
CHECKPOINT_DOMAIN = b"skynet-audit-checkpoint-v1\n"
# Where an entry sits in the chain, not what it says: left out of its content hash (an entry
# is hashed before it has an id or a place; `AuditEntry(0, ...)` is content not yet stored).
CHAIN_PLACE_FIELDS = frozenset({"id", "seq", "entry_hash"})


def canonical_time(at: datetime) -> str:
    """UTC, microseconds, `Z`: the one spelling of an audit time inside a hash."""
    if at.tzinfo is None:
        raise ValueError("audit times must be timezone-aware")
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical_json(value: object) -> str:
    """Stable JSON: sorted keys, no spaces, non-ASCII kept, NaN refused."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False)  # fmt: skip


def normal_filters(filters: Mapping[str, Any] | None) -> dict[str, Any]:
    """`filters` as the database will give them back (JSON round trip: tuples become lists,
    keys strings); ValueError when they are not JSON (a NaN, an object)."""
    try:
        normal = json.loads(canonical_json(dict(filters or {})))
    except (TypeError, ValueError) as error:
        raise ValueError(f"audit filters must be JSON: {error}") from error
    assert isinstance(normal, dict)
    return normal


def content_bytes(entry: AuditEntry) -> bytes:
    """The canonical JSON of every field of `entry` but its place in the chain."""
    document = {
        f.name: getattr(entry, f.name) for f in fields(entry) if f.name not in CHAIN_PLACE_FIELDS
    }
    document["at"] = canonical_time(entry.at)
    document["filters"] = dict(entry.filters)
    return canonical_json(document).encode()


def content_hash(entry: AuditEntry) -> str:
    return hashlib.sha256(content_bytes(entry)).hexdigest()


def entry_hash(prev_hash: str, content_sha256: str, seq: int) -> str:
    return hashlib.sha256(f"{prev_hash}|{content_sha256}|{seq}".encode()).hexdigest()


def checkpoint_message(seq: int, entry_sha256: str, signed_at: datetime, fingerprint: str) -> bytes:
    """What a checkpoint's Ed25519 signature covers: the chain up to entry `seq` (whose entry
    hash commits to every entry before it), when, and by which key."""
    document = {
        "seq": seq,
        "entry_hash": entry_sha256,
        "signed_at": canonical_time(signed_at),
        "key_fingerprint": fingerprint,
    }
    return CHECKPOINT_DOMAIN + canonical_json(document).encode()
