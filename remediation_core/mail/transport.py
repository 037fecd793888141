"""Compose outbox rows into MIME messages and send them over one SMTP connection."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime
from enum import StrEnum

import aiosmtplib

from remediation_core.store.schema import OutboxMessage


class Security(StrEnum):
    STARTTLS = "starttls"
    TLS = "tls"
    NONE = "none"


@dataclass(frozen=True)
class SmtpSettings:
    """Where and how to send mail."""

    host: str
    port: int
    sender: str
    security: Security = Security.STARTTLS
    username: str | None = None
    password: str | None = None
    timeout: float = 30.0


def compose(row: OutboxMessage, sender: str) -> EmailMessage:
    """The MIME message of an outbox row: text, HTML alternative and the .ics, with its stable Message-ID."""
    message = EmailMessage()
    message["Message-ID"] = row.message_id
    message["From"] = sender
    message["To"] = ", ".join(row.recipients)
    message["Subject"] = row.subject
    message["Date"] = format_datetime(row.created_at)
    message["X-Remediation-Kind"] = row.kind
    message.set_content(row.body_text)
    if row.body_html:
        message.add_alternative(row.body_html, subtype="html")
    if row.calendar_ics:
        message.add_attachment(
            row.calendar_ics.encode("utf-8"),
            maintype="text",
            subtype="calendar",
            filename="due-date.ics",
            params={"method": "PUBLISH", "charset": "utf-8"},
        )
    return message


class SendFailed(Exception):
    """The server refused one message, or could not be reached for the batch."""

    def __init__(self, message: str, *, permanent: bool) -> None:
        super().__init__(message)
        self.permanent = permanent


async def send_batch(settings: SmtpSettings, messages: list[EmailMessage]) -> list[SendFailed | None]:
    """Send ``messages`` over one connection; one result per message (None when accepted)."""
    client = aiosmtplib.SMTP(
        hostname=settings.host,
        port=settings.port,
        timeout=settings.timeout,
        use_tls=settings.security is Security.TLS,
        start_tls=settings.security is Security.STARTTLS,
        tls_context=ssl.create_default_context() if settings.security is not Security.NONE else None,
    )
    try:
        await client.connect()
        if settings.username:
            await client.login(settings.username, settings.password or "")
    except (aiosmtplib.SMTPException, OSError) as error:
        failure = SendFailed(f"cannot reach {settings.host}:{settings.port}: {error}", permanent=False)
        return [failure] * len(messages)
    results: list[SendFailed | None] = []
    try:
        for message in messages:
            try:
                await client.send_message(message, sender=settings.sender)
                results.append(None)
            except aiosmtplib.SMTPRecipientsRefused as error:
                results.append(SendFailed(f"recipients refused: {error}", permanent=True))
            except aiosmtplib.SMTPResponseException as error:
                permanent = 500 <= error.code < 600
                results.append(SendFailed(f"{error.code} {error.message}", permanent=permanent))
            except (aiosmtplib.SMTPException, OSError) as error:
                # The connection broke: this and every later message must be retried.
                failure = SendFailed(f"connection lost: {error}", permanent=False)
                results.extend([failure] * (len(messages) - len(results)))
                break
    finally:
        try:
            await client.quit()
        except (aiosmtplib.SMTPException, OSError):
            client.close()
    return results
