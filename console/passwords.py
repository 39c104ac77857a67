"""Password hashes for console users: scrypt with a random salt, parameters kept in the hash string.

Stored form: `scrypt$<n>$<r>$<p>$<salt, base64>$<key, base64>`. Keeping n/r/p in each hash lets the
cost be raised later without locking out users whose hashes were made with the old cost.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

SCHEME = "scrypt"
# 2**14 x 8 x 1: about 16 MiB and some tens of milliseconds per check, OWASP's scrypt minimum.
COST_N, BLOCK_R, PARALLEL_P = 2**14, 8, 1
SALT_BYTES, KEY_BYTES = 16, 32
MIN_PASSWORD_LENGTH = 8
# A hash no password matches, verified when a username is unknown so that the answer takes as long as
# for a known user (the timing does not reveal which usernames exist).
_UNUSABLE_SALT = b"\x00" * SALT_BYTES


class WeakPasswordError(ValueError):
    """The password is too short to be accepted."""


def hash_password(password: str) -> str:
    """A new salted scrypt hash of `password` in the stored form."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise WeakPasswordError(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")
    salt = secrets.token_bytes(SALT_BYTES)
    key = _scrypt(password, salt, COST_N, BLOCK_R, PARALLEL_P)
    return "$".join((SCHEME, str(COST_N), str(BLOCK_R), str(PARALLEL_P), _b64(salt), _b64(key)))


def verify_password(password: str, stored: str) -> bool:
    """Whether `password` matches a stored hash; a malformed hash matches nothing."""
    try:
        scheme, n, r, p, salt, key = stored.split("$")
        if scheme != SCHEME:
            return False
        expected = base64.b64decode(key)
        actual = _scrypt(password, base64.b64decode(salt), int(n), int(r), int(p), len(expected))
    except ValueError:
        return False
    return hmac.compare_digest(actual, expected)


def burn_verification_time(password: str) -> None:
    """Spend what one verification costs, for an unknown username."""
    _scrypt(password, _UNUSABLE_SALT, COST_N, BLOCK_R, PARALLEL_P)


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int, length: int = KEY_BYTES) -> bytes:
    # maxmem: OpenSSL's 32 MiB default is just too small for n=2**14, r=8 plus its overhead.
    return hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=length, maxmem=64 * 1024 * 1024
    )


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")
