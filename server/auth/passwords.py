"""Password hashing with scrypt (standard library), stored as one self-describing string.

Format: ``scrypt$N$r$p$salt$hash`` (salt and hash base64). The cost parameters travel with each
hash, so raising :data:`SCRYPT_N` later leaves old hashes verifiable.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

SCRYPT_N = 2**14
"""CPU/memory cost: 16 MiB and about 50 ms per hash here; higher slows guessing and logins alike."""
SCRYPT_R = 8
SCRYPT_P = 1
HASH_BYTES = 32
SALT_BYTES = 16
MIN_PASSWORD_CHARS = 8
MAX_PASSWORD_CHARS = 1024


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(SALT_BYTES)
    digest = _scrypt(password, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
    return "$".join(("scrypt", str(SCRYPT_N), str(SCRYPT_R), str(SCRYPT_P), _b64(salt), _b64(digest)))


def verify_password(password: str, stored: str) -> bool:
    """True if ``password`` matches ``stored``; False for any malformed hash string."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        actual = _scrypt(password, base64.b64decode(salt), int(n), int(r), int(p), len(expected))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int, length: int = HASH_BYTES) -> bytes:
    return hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=length,
                          maxmem=256 * 1024 * 1024)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


DUMMY_HASH = hash_password(secrets.token_hex(16))
"""Checked against when the account does not exist, so an unknown name costs as long as a known one."""
