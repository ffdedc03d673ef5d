"""Field encryption for PHI: AES-256-GCM with named keys, so keys can be rotated.

A stored value reads `v1:<key id>:<base64 of nonce + ciphertext>`. The first configured key
encrypts; every configured key decrypts. The column's name is authenticated with the value,
so a ciphertext moved to another column does not decrypt.
"""

import base64
import binascii
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

VERSION = "v1"
NONCE_BYTES = 12


class DecryptionError(Exception):
    """A stored value that no configured key opens."""


class Keyring:
    def __init__(self, keys: list[tuple[str, bytes]]) -> None:
        if not keys:
            raise ValueError("at least one encryption key is required")
        self._ciphers = {key_id: AESGCM(key) for key_id, key in keys}
        self.primary_id = keys[0][0]

    @classmethod
    def parse(cls, spec: str) -> "Keyring":
        """`id:base64key,id2:base64key2`, as PHI_ENCRYPTION_KEYS holds them."""
        return cls(parse_keys(spec))

    def encrypt(self, plaintext: str, *, context: str) -> str:
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._ciphers[self.primary_id].encrypt(nonce, plaintext.encode(), context.encode())
        return f"{VERSION}:{self.primary_id}:{base64.b64encode(nonce + sealed).decode()}"

    def decrypt(self, stored: str, *, context: str) -> str:
        version, key_id, payload = _split(stored)
        cipher = self._ciphers.get(key_id)
        if version != VERSION or cipher is None:
            raise DecryptionError(f"no configured key {key_id!r} for a stored value")
        try:
            raw = base64.b64decode(payload, validate=True)
            return cipher.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], context.encode()).decode()
        except (binascii.Error, InvalidTag, ValueError):  # ValueError: too short, not UTF-8
            raise DecryptionError(f"a stored value does not open with key {key_id!r}") from None

    def seal(self, data: bytes, *, context: str) -> tuple[str, bytes]:
        """Bytes (a file) encrypted with the primary key: its id, and nonce + ciphertext."""
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._ciphers[self.primary_id].encrypt(nonce, data, context.encode())
        return self.primary_id, nonce + sealed

    def open(self, key_id: str, sealed: bytes, *, context: str) -> bytes:
        """The bytes `seal` encrypted with the key `key_id`."""
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            raise DecryptionError(f"no configured key {key_id!r} for a stored file")
        try:
            return cipher.decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], context.encode())
        except (InvalidTag, ValueError):
            raise DecryptionError(f"a stored file does not open with key {key_id!r}") from None

    def needs_rotation(self, stored: str) -> bool:
        return _split(stored)[1] != self.primary_id


def parse_keys(spec: str) -> list[tuple[str, bytes]]:
    """The (id, key) pairs of `id:base64key,id2:base64key2`, as PHI_ENCRYPTION_KEYS holds them."""
    keys: list[tuple[str, bytes]] = []
    items = filter(None, (part.strip() for part in spec.split(",")))
    for position, item in enumerate(items, start=1):
        # Errors name the key by position: the item itself is a secret.
        key_id, separator, encoded = item.partition(":")
        try:
            key = base64.b64decode(encoded, validate=True)
        except binascii.Error:
            key = b""
        if not separator or not key_id.isalnum() or len(key) != 32:
            raise ValueError(
                f"encryption key #{position} must be `id:base64 of 32 bytes` "
                "with an alphanumeric id"
            )
        keys.append((key_id, key))
    return keys


def _split(stored: str) -> tuple[str, str, str]:
    version, _, rest = stored.partition(":")
    key_id, _, payload = rest.partition(":")
    return version, key_id, payload
