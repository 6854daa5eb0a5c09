"""Ed25519 signer: a key made once and reloaded, signatures that check, and forgeries refused."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from storage.ed25519 import PublicKey, SignatureKeyError, Signer


def test_key_is_made_once_private_and_reloaded(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "ed25519.pem"
    first = Signer.load_or_create(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = Signer.load_or_create(path)
    assert again.public_key == first.public_key
    assert len(first.public_key.fingerprint) == 64


def test_signature_checks_and_forgeries_fail(tmp_path: Path) -> None:
    signer = Signer.load_or_create(tmp_path / "k.pem")
    sig = signer.sign(b"manifest")
    key = PublicKey.from_b64(signer.public_key.b64)
    assert key.verify(sig, b"manifest")
    assert not key.verify(sig, b"manifesT")
    assert not Signer.generate().public_key.verify(sig, b"manifest")
    assert not key.verify("not base64!", b"manifest")


def test_bad_keys_are_refused(tmp_path: Path) -> None:
    with pytest.raises(SignatureKeyError):
        PublicKey.from_b64("AAAA")
    rsa_like = tmp_path / "other.pem"
    rsa_like.write_text("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
    with pytest.raises(ValueError):
        Signer.load_or_create(rsa_like)
