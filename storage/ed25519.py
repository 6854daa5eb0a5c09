"""Ed25519 signatures that others can check: audit checkpoints and evidence manifests.

Unlike the HMAC link signatures (storage/signing.py), these are verified with a public key that
can be handed to a court or an auditor without letting them sign anything. The private key is a
PEM file (PKCS#8, mode 0600) made once; its public key's SHA-256 fingerprint names it.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)


class SignatureKeyError(ValueError):
    """A key file that is not an Ed25519 key of the expected kind."""


@dataclass(frozen=True)
class PublicKey:
    """An Ed25519 public key: raw 32 bytes, shown as base64 with a SHA-256 fingerprint."""

    raw: bytes

    @property
    def fingerprint(self) -> str:
        return hashlib.sha256(self.raw).hexdigest()

    @property
    def b64(self) -> str:
        return base64.b64encode(self.raw).decode()

    @classmethod
    def from_b64(cls, text: str) -> PublicKey:
        try:
            raw = base64.b64decode(text.strip(), validate=True)
        except ValueError as exc:
            raise SignatureKeyError(f"public key is not base64: {exc}") from exc
        if len(raw) != 32:
            raise SignatureKeyError(f"an Ed25519 public key has 32 bytes, not {len(raw)}")
        return cls(raw)

    def verify(self, signature_b64: str, message: bytes) -> bool:
        """True when `signature_b64` is this key's signature of `message`; never raises."""
        try:
            signature = base64.b64decode(signature_b64, validate=True)
            Ed25519PublicKey.from_public_bytes(self.raw).verify(signature, message)
        except (InvalidSignature, ValueError):
            return False
        return True


class Signer:
    """An Ed25519 private key that signs messages (base64 signatures)."""

    def __init__(self, key: Ed25519PrivateKey) -> None:
        self._key = key
        raw = key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        self.public_key = PublicKey(raw)

    @classmethod
    def generate(cls) -> Signer:
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def load_or_create(cls, path: Path) -> Signer:
        """The key in `path` (PEM, PKCS#8), made there (mode 0600) on first use."""
        if not path.exists():
            key = Ed25519PrivateKey.generate()
            path.parent.mkdir(parents=True, exist_ok=True)
            pem = key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            path.touch(mode=0o600)
            path.write_bytes(pem)
            return cls(key)
        loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(loaded, Ed25519PrivateKey):
            raise SignatureKeyError(f"{path} does not hold an Ed25519 private key")
        return cls(loaded)

    def sign(self, message: bytes) -> str:
        return base64.b64encode(self._key.sign(message)).decode()
