"""Reading the local mail sink (a Maildir written by the embedded default's SMTP server)."""

from __future__ import annotations

import email
import email.policy
import mailbox
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import parsedate_to_datetime
from pathlib import Path


@dataclass(frozen=True)
class SinkMessage:
    number: int
    date: str
    to: str
    subject: str
    message: EmailMessage


def read_sink(mail_dir: Path) -> list[SinkMessage]:
    """Every message in the sink, oldest first, numbered from 1."""
    if not (mail_dir / "cur").exists() and not (mail_dir / "new").exists():
        return []
    box = mailbox.Maildir(str(mail_dir), factory=None, create=False)
    parsed = []
    for key in box.iterkeys():
        message = email.message_from_bytes(box.get_bytes(key), policy=email.policy.default)
        try:
            when = parsedate_to_datetime(message["Date"]) if message["Date"] else None
        except (TypeError, ValueError):
            when = None
        parsed.append((when.timestamp() if when else 0.0, key, message))
    parsed.sort(key=lambda item: (item[0], item[1]))
    return [
        SinkMessage(
            number=index,
            date=message["Date"] or "",
            to=message["To"] or "",
            subject=message["Subject"] or "",
            message=message,
        )
        for index, (_, _, message) in enumerate(parsed, start=1)
    ]


def plain_text(message: EmailMessage) -> str:
    """The message's plain-text body, with the names of its attachments."""
    body = message.get_body(preferencelist=("plain", "html"))
    text = body.get_content() if body is not None else ""
    names = [part.get_filename() for part in message.iter_attachments()]
    attachments = [name for name in names if name]
    if attachments:
        text += "\n[attached: " + ", ".join(attachments) + "]\n"
    return text
