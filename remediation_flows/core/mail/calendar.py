"""A minimal iCalendar (RFC 5545) entry for a due date, so that it lands in a calendar."""

from __future__ import annotations

import datetime as dt


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\n", "\\n")


def _fold(line: str) -> str:
    # RFC 5545 lines are at most 75 octets; continuation lines start with a space.
    raw = line.encode("utf-8")
    if len(raw) <= 75:
        return line
    parts: list[str] = []
    current = b""
    for char in line:
        encoded = char.encode("utf-8")
        if len(current) + len(encoded) > (75 if not parts else 74):
            parts.append(current.decode("utf-8"))
            current = b""
        current += encoded
    parts.append(current.decode("utf-8"))
    return "\r\n ".join(parts)


def calendar_entry(
    *,
    uid: str,
    summary: str,
    description: str,
    due_at: dt.datetime,
    sequence: int = 0,
    language: str | None = None,
) -> str:
    """A VCALENDAR with one 30-minute VEVENT ending at ``due_at``; same ``uid`` updates it.

    ``language`` tags the summary and description (RFC 5545 LANGUAGE), which are written in it.
    """
    tag = f";LANGUAGE={language}" if language else ""
    end = due_at.astimezone(dt.UTC)
    start = end - dt.timedelta(minutes=30)
    stamp = dt.datetime.now(dt.UTC)
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//remediation-flows//EN",
        "METHOD:PUBLISH",
        "BEGIN:VEVENT",
        f"UID:{uid}",
        f"SEQUENCE:{sequence}",
        f"DTSTAMP:{stamp:%Y%m%dT%H%M%SZ}",
        f"DTSTART:{start:%Y%m%dT%H%M%SZ}",
        f"DTEND:{end:%Y%m%dT%H%M%SZ}",
        f"SUMMARY{tag}:{_escape(summary)}",
        f"DESCRIPTION{tag}:{_escape(description)}",
        "BEGIN:VALARM",
        "TRIGGER:-P1D",
        "ACTION:DISPLAY",
        f"DESCRIPTION{tag}:{_escape(summary)}",
        "END:VALARM",
        "END:VEVENT",
        "END:VCALENDAR",
    ]
    return "\r\n".join(_fold(line) for line in lines) + "\r\n"
