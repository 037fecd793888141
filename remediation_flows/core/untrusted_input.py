"""Reading what a person hands us (programme files, spreadsheets, command-line values) safely.

A file may be huge, not UTF-8, or built to blow up; an error message that echoes it back
whole can take longer and more memory than the work itself, and may repeat a child's
details. These helpers keep an error to one short line that names where the problem is.
"""

from __future__ import annotations

from pathlib import Path

from remediation_flows.core.errors import InvalidInput

#: How much of a value an error message may quote, in characters.
EXCERPT_CHARS = 60
#: How many problems a command prints before it counts the rest.
PRINTED_PROBLEMS = 50


def excerpt(value: object, limit: int = EXCERPT_CHARS) -> str:
    """``repr(value)`` cut to ``limit`` characters, saying how long it was when cut.

    Containers are measured before their repr is built: the repr of a big nested
    document would cost what the error was meant to spare.
    """
    if isinstance(value, dict | list | tuple) and len(value) > limit:
        kind = type(value).__name__
        return f"<a {kind} of {len(value)} items>"
    text = repr(value)
    if len(text) <= limit:
        return text
    return f"{text[: limit - 1]}… ({len(text)} characters)"


def shorten_message(message: str, limit: int = 300) -> str:
    """A message cut in its middle to ``limit`` characters, keeping what the rule says at its end."""
    if len(message) <= limit:
        return message
    keep = (limit - 5) // 2
    return f"{message[:keep]} […] {message[-keep:]}"


def describe(value: object) -> str:
    """What kind of value a person wrote, in words ("an empty document", "a list of 3 items")."""
    if value is None:
        return "an empty document"
    if isinstance(value, list):
        return f"a list of {len(value)} item(s)"
    if isinstance(value, str):
        return f"a text value {excerpt(value, 30)}"
    if isinstance(value, dict):
        return "a mapping"
    return f"a single value {excerpt(value, 30)}"


class UnreadableInput(InvalidInput):
    """A file cannot be read as text: ``source`` names it, ``reason`` says why (one line)."""

    def __init__(self, source: str, reason: str) -> None:
        self.source = source
        self.reason = reason
        super().__init__(f"{source}: {reason}")


class NotUtf8(UnreadableInput):
    """A file is not UTF-8 text; ``offset`` is the first bad byte's, counted from 0."""

    def __init__(self, source: str, offset: int, byte: int) -> None:
        self.offset = offset
        super().__init__(
            source,
            f"not UTF-8 text: byte 0x{byte:02x} at offset {offset} (save the file as UTF-8 and try again)",
        )


def decode_utf8(data: bytes, source: str) -> str:
    """``data`` as text; bytes that are not UTF-8 raise :class:`NotUtf8` naming the byte offset.

    A byte-order mark at the start is dropped (spreadsheet programs write one).
    """
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise NotUtf8(source, error.start, data[error.start]) from None


def read_utf8_file(path: Path, max_bytes: int | None = None) -> str:
    """The text of ``path``; :class:`UnreadableInput` (one line naming the file) if it cannot be
    read, is larger than ``max_bytes`` or is not UTF-8."""
    try:
        with path.open("rb") as handle:
            data = handle.read() if max_bytes is None else handle.read(max_bytes + 1)
    except OSError as error:
        raise UnreadableInput(str(path), f"cannot read file: {error.strerror}") from None
    if max_bytes is not None and len(data) > max_bytes:
        raise UnreadableInput(str(path), f"larger than {max_bytes:,} bytes; refused")
    return decode_utf8(data, str(path))
