"""Encryption at rest of a child's personal data, when a key is configured.

Set REMEDIATION_PERSONAL_DATA_KEY to a Fernet key (``remediate keygen`` prints one) and every
value of the child's table is stored encrypted; a database dump, a backup or a stray query
then shows tokens, not names. Values written before a key was set are read as they are, and
encrypted the next time they are written. Losing the key loses the identities: keep it in a
secret store, not beside the database.
"""

from __future__ import annotations

import datetime as dt
import os
from functools import cache
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import Text, TypeDecorator

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


def _current() -> Fernet | None:
    key = os.environ.get(KEY_VARIABLE)
    return _fernet(key) if key else None


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


def new_key() -> str:
    return Fernet.generate_key().decode()
