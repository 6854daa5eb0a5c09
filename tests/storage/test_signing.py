"""The one link-signing scheme (storage/signing.py) shared by object and clip links."""

from __future__ import annotations

import pytest

from storage.signing import sign, signature_valid

KEY = b"0123456789abcdef0123456789abcdef"


def test_a_signature_verifies_until_it_expires() -> None:
    sig = sign(KEY, "clip", "cam1/0-1000", "ana", 2_000)
    assert signature_valid(KEY, sig, "clip", "cam1/0-1000", "ana", expires=2_000, now=1_999.0)
    assert not signature_valid(KEY, sig, "clip", "cam1/0-1000", "ana", expires=2_000, now=2_001.0)


@pytest.mark.parametrize(
    ("fields", "expires", "key"),
    [
        (("clip", "cam1/0-1000", "bob"), 2_000, KEY),  # another viewer
        (("clip", "cam2/0-1000", "ana"), 2_000, KEY),  # another span
        (("clip", "cam1/0-1000", "ana"), 2_001, KEY),  # another expiry
        (("clip", "cam1/0-1000", "ana"), 2_000, b"another-key-0123456789"),
    ],
)
def test_any_changed_field_breaks_the_signature(
    fields: tuple[str, ...], expires: int, key: bytes
) -> None:
    sig = sign(KEY, "clip", "cam1/0-1000", "ana", 2_000)
    assert not signature_valid(key, sig, *fields, expires=expires, now=0.0)


@pytest.mark.parametrize("sig", ["", "zz\u00e9", "\u4e2d" * 64, "0" * 64])
def test_malformed_signatures_are_refused_without_raising(sig: str) -> None:
    assert not signature_valid(KEY, sig, "cam1/seg.mp4", expires=2_000, now=0.0)


def test_a_boolean_expiry_is_refused() -> None:
    sig = sign(KEY, "cam1/seg.mp4", True)
    assert not signature_valid(KEY, sig, "cam1/seg.mp4", expires=True, now=0.0)
