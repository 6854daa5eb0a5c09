"""The audit chain's canonical content is frozen: every stored content hash was computed from
these exact bytes, so any change to the canonical form (a field added, renamed or spelt
differently, a field added to `AuditEntry`) would make every existing entry look altered.
Pinned before the chain's own content type was merged into `AuditEntry`; keep it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from index.catalog.audit_chain import content_bytes, content_hash, entry_hash
from index.catalog.values import AuditEntry

AT = datetime(2026, 12, 6, 16, 30, 5, 123456, tzinfo=timezone(timedelta(hours=8)))
FIELDS = (
    AT, "安娜", "investigator", "search", "image", "case-7", "robbery 12/3",
    {"cameras": ["c1", "c2"], "zone_ids": [3], "min_confidence": 0.4, "text": "白色轿车"},
    "ab" * 32, 12, "track:42",
)  # fmt: skip
CANONICAL = (
    '{"action":"search","at":"2026-12-06T08:30:05.123456Z","case_id":"case-7",'
    '"filters":{"cameras":["c1","c2"],"min_confidence":0.4,"text":"白色轿车","zone_ids":[3]},'
    '"hit_count":12,"image_sha256":"' + "ab" * 32 + '","principal":"安娜",'
    '"purpose":"robbery 12/3","query_type":"image","role":"investigator","target":"track:42"}'
).encode()
CONTENT_SHA256 = "bbbbc454b703f5f05ec5ad4d57bf42a9f1a8129542219add58d974e5493983b3"


def test_the_canonical_bytes_and_hashes_of_a_fixed_entry_never_change() -> None:
    content = AuditEntry(0, *FIELDS)
    assert content_bytes(content) == CANONICAL
    assert content_hash(content) == CONTENT_SHA256
    assert entry_hash("0" * 64, CONTENT_SHA256, 1) == (
        "f3c4a051c19a85665ab4b62ab235e3a8f8fde6f19f0b48cc6179efaac9231afb"
    )
    empty = AuditEntry(0, datetime(2026, 1, 1, tzinfo=UTC), "key:3", "admin", "key_create",
                       None, None, None, {}, None, None, None)  # fmt: skip
    assert content_hash(empty) == "d4362bb18eb48c18301c6da5038671c9aff816a413fc47776c3fb46c3aca8707"


def test_an_entry_read_back_hashes_as_its_content() -> None:
    """An entry's place in the chain (id, seq, entry hash) is not part of its content."""
    entry = AuditEntry(7, *FIELDS, seq=3, entry_hash="f" * 64)
    assert content_bytes(entry) == CANONICAL
    assert content_hash(entry) == CONTENT_SHA256
