"""Password hashing for user accounts (issue #17): argon2id (argon2-cffi's PasswordHasher with
its RFC 9106 low-memory defaults: 64 MiB, 3 passes, 4 lanes — 0.1-0.25 s a hash on the shared
2-core machine), so a stolen catalog yields no passwords. Only hashes reach the catalog."""

from __future__ import annotations

import functools

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MIN_PASSWORD_CHARS = 12
MAX_PASSWORD_CHARS = 1024
_HASHER = PasswordHasher()


def check_password(password: str) -> str:
    """`password` if long enough to keep (ValueError naming the rule otherwise)."""
    if not isinstance(password, str) or len(password) < MIN_PASSWORD_CHARS:
        raise ValueError(f"password: use at least {MIN_PASSWORD_CHARS} characters")
    if len(password) > MAX_PASSWORD_CHARS:
        raise ValueError(f"password: use at most {MAX_PASSWORD_CHARS} characters")
    return password


def hash_password(password: str) -> str:
    return _HASHER.hash(check_password(password))


def password_matches(password_hash: str, password: str) -> bool:
    """Whether `password` is the one hashed (False for any malformed hash or input)."""
    if not isinstance(password, str) or len(password) > MAX_PASSWORD_CHARS:
        return False
    try:
        return _HASHER.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


@functools.cache
def dummy_hash() -> str:
    """A hash to verify against when the user does not exist, so that unknown and known names
    take the same time to refuse."""
    return _HASHER.hash("not the password of anyone")
