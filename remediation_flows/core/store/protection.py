"""Encryption at rest of a child's personal data, when a key is configured.

Set REMEDIATION_PERSONAL_DATA_KEY to a Fernet key (``remediate keygen`` prints one) and every
value of the child's table is stored encrypted; a database dump, a backup or a stray query
then shows tokens, not names. Values written before a key was set are read as they are, and
encrypted the next time they are written. Losing the key loses the identities: keep it in a
secret store, not beside the database.

To change keys, list several, comma-separated, newest first: the first encrypts, every one
decrypts (``cryptography``'s MultiFernet), so casework goes on while ``remediate keys rotate``
re-encrypts the stored values under the first; then drop the old key.
"""

from __future__ import annotations

import datetime as dt
import os
from functools import cache
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy import LargeBinary, Text, TypeDecorator

from remediation_flows.core.errors import RemediationError

KEY_VARIABLE = "REMEDIATION_PERSONAL_DATA_KEY"
PREFIX = "fernet:"


class PersonalDataKeyError(RemediationError):
    """The key is malformed, or does not open the stored data."""


@cache
def _fernet(key: str) -> Fernet:
    try:
        return Fernet(key.encode())
    except ValueError:
        raise PersonalDataKeyError(
            f"{KEY_VARIABLE} is not a Fernet key (run `remediate keygen` for one)"
        ) from None


@cache
def _keys(setting: str) -> tuple[Fernet, ...]:
    keys = [key.strip() for key in setting.split(",") if key.strip()]
    return tuple(_fernet(key) for key in keys)


def configured_keys() -> tuple[Fernet, ...]:
    """The configured keys, the one that encrypts first; empty when none is set."""
    return _keys(os.environ.get(KEY_VARIABLE, ""))


def _current() -> MultiFernet | None:
    keys = configured_keys()
    return MultiFernet(list(keys)) if keys else None


def is_protected(stored: str | None) -> bool:
    """Whether a stored value is encrypted (rather than written before any key was set)."""
    return stored is not None and stored.startswith(PREFIX)


def under_current_key(stored: str) -> bool:
    """Whether an encrypted value is already encrypted with the first (encrypting) key."""
    keys = configured_keys()
    if not keys or not is_protected(stored):
        return False
    try:
        keys[0].decrypt(stored[len(PREFIX) :].encode())
    except InvalidToken:
        return False
    return True


def reprotect(stored: str | None) -> str | None:
    """The stored value encrypted under the first key: a plain value encrypted, a token rotated."""
    fernet = _current()
    if stored is None:
        return None
    if fernet is None:
        raise PersonalDataKeyError(f"set {KEY_VARIABLE} to encrypt personal data")
    if not is_protected(stored):
        return protect(stored)
    try:
        return PREFIX + fernet.rotate(stored[len(PREFIX) :].encode()).decode()
    except InvalidToken:
        raise PersonalDataKeyError(f"{KEY_VARIABLE} does not open the stored personal data") from None


def protect(text: str | None) -> str | None:
    """The text as stored: encrypted when a key is configured."""
    fernet = _current()
    if text is None or fernet is None:
        return text
    return PREFIX + fernet.encrypt(text.encode()).decode()


def reveal(stored: str | None) -> str | None:
    """The text as written, from what is stored."""
    if stored is None or not stored.startswith(PREFIX):
        return stored
    fernet = _current()
    if fernet is None:
        raise PersonalDataKeyError(f"personal data is encrypted: set {KEY_VARIABLE} to read it")
    try:
        return fernet.decrypt(stored[len(PREFIX) :].encode()).decode()
    except InvalidToken:
        raise PersonalDataKeyError(f"{KEY_VARIABLE} does not open the stored personal data") from None


class ProtectedText(TypeDecorator[str]):
    """Text encrypted at rest when a key is configured."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Any) -> str | None:
        return protect(value)

    def process_result_value(self, value: str | None, dialect: Any) -> str | None:
        return reveal(value)


class ProtectedDate(TypeDecorator[dt.date]):
    """A date stored as encrypted ISO text when a key is configured."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: dt.date | None, dialect: Any) -> str | None:
        return protect(value.isoformat()) if value is not None else None

    def process_result_value(self, value: str | None, dialect: Any) -> dt.date | None:
        text = reveal(value)
        return dt.date.fromisoformat(text) if text else None


BYTES_PREFIX = PREFIX.encode()


def protect_bytes(content: bytes) -> bytes:
    """The bytes as stored: a Fernet token behind a marker when a key is configured, else as given."""
    fernet = _current()
    if fernet is None:
        return content
    return BYTES_PREFIX + fernet.encrypt(content)


def reveal_bytes(stored: bytes) -> bytes:
    """The bytes as written, from what is stored."""
    if not stored.startswith(BYTES_PREFIX):
        return stored
    fernet = _current()
    if fernet is None:
        raise PersonalDataKeyError(f"personal data is encrypted: set {KEY_VARIABLE} to read it")
    try:
        return fernet.decrypt(stored[len(BYTES_PREFIX) :])
    except InvalidToken:
        raise PersonalDataKeyError(f"{KEY_VARIABLE} does not open the stored personal data") from None


def reprotect_bytes(stored: bytes) -> bytes | None:
    """The stored bytes under the first key, or None when they already are (nothing to rewrite)."""
    keys = configured_keys()
    if not keys:
        raise PersonalDataKeyError(f"set {KEY_VARIABLE} to encrypt personal data")
    if stored.startswith(BYTES_PREFIX):
        try:
            keys[0].decrypt(stored[len(BYTES_PREFIX) :])
            return None
        except InvalidToken:
            pass
    return protect_bytes(reveal_bytes(stored))


class ProtectedBytes(TypeDecorator[bytes]):
    """Binary content (an evidence file) encrypted at rest when a key is configured.

    A stored value is recognised as encrypted by its marker; the files it holds begin with their
    own magic bytes (PDF, JPEG, PNG), which never spell the marker.
    """

    impl = LargeBinary
    cache_ok = True

    def process_bind_param(self, value: bytes | None, dialect: Any) -> bytes | None:
        return None if value is None else protect_bytes(value)

    def process_result_value(self, value: bytes | None, dialect: Any) -> bytes | None:
        return None if value is None else reveal_bytes(bytes(value))


def new_key() -> str:
    return Fernet.generate_key().decode()
