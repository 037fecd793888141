"""Compose outbox rows into MIME messages and send them over one SMTP connection."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime
from enum import StrEnum

import aiosmtplib
from aiosmtplib.email import flatten_message

from remediation_flows.core.store.schema import OutboxMessage


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
    for _ in _fill_in_parts(message, row, sender):
        pass
    return message


async def compose_between_replies(row: OutboxMessage, sender: str) -> EmailMessage:
    """:func:`compose`, giving way to the event loop between the message's parts.

    Run beside a send in flight, the parts fill the time the SMTP server takes to answer each
    command, and the send goes on as soon as its reply is in rather than after the whole message.
    """
    message = EmailMessage()
    for _ in _fill_in_parts(message, row, sender):
        await asyncio.sleep(0)
    return message


def _fill_in_parts(message: EmailMessage, row: OutboxMessage, sender: str) -> Iterator[None]:
    """Build ``message`` from ``row``, pausing (yielding) between the parts that take time."""
    message["Message-ID"] = row.message_id
    message["From"] = sender
    message["To"] = ", ".join(row.recipients)
    message["Subject"] = row.subject
    message["Date"] = format_datetime(row.created_at)
    message["X-Remediation-Kind"] = row.kind
    # Each pause costs a turn of the event loop (about 30 us): one per part of about a third of
    # a millisecond or more, none between the headers and the text.
    message.set_content(row.body_text)
    if row.body_html:
        yield
        message.add_alternative(row.body_html, subtype="html")
    if row.calendar_ics:
        yield
        message.add_attachment(
            row.calendar_ics.encode("utf-8"),
            maintype="text",
            subtype="calendar",
            filename="due-date.ics",
            params={"method": "PUBLISH", "charset": "utf-8"},
        )


@dataclass(frozen=True)
class FlatMessage:
    """A message as the server receives it: its bytes, and the MAIL options they need."""

    data: bytes
    mail_options: tuple[str, ...]


class SendFailed(Exception):
    """The server could not be reached, or refused one message for every recipient."""

    def __init__(self, message: str, *, permanent: bool) -> None:
        super().__init__(message)
        self.permanent = permanent


@dataclass(frozen=True)
class Refusal:
    """Why a recipient did not get a message: the server's reply, or why there was none."""

    error: str
    permanent: bool

    @classmethod
    def reply(cls, code: int, text: str) -> Refusal:
        """A refusal by reply code: 4xx (greylisting, mailbox busy) may pass later, 5xx will not."""
        return cls(f"{code} {text}".strip(), permanent=500 <= code < 600)


#: One message's outcome: every recipient tried, with None when the server accepted it for them.
Outcome = dict[str, Refusal | None]


class SmtpConnection:
    """One SMTP connection over which a batch goes message by message, each outcome per recipient.

    Sending message by message (rather than a whole batch, then the outcomes) lets the
    dispatcher record each outcome as soon as the server has answered, so that a crash leaves
    at most the message in flight and the one before it (whose outcome is being committed)
    unrecorded.
    """

    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings
        self.broken: Refusal | None = None
        self._client = aiosmtplib.SMTP(
            hostname=settings.host,
            port=settings.port,
            timeout=settings.timeout,
            use_tls=settings.security is Security.TLS,
            start_tls=settings.security is Security.STARTTLS,
            tls_context=ssl.create_default_context() if settings.security is not Security.NONE else None,
        )

    async def open(self) -> None:
        """Connect, greet and log in; :class:`SendFailed` (transient) when the server cannot be reached."""
        try:
            await self._client.connect()
            # What the server offers (SMTPUTF8, 8BITMIME) decides how a message is flattened:
            # known from here on, so that the next message can be flattened before its turn.
            if self._client.is_ehlo_or_helo_needed:
                try:
                    await self._client.ehlo()
                except aiosmtplib.SMTPHeloError:
                    await self._client.helo()
            if self.settings.username:
                await self._client.login(self.settings.username, self.settings.password or "")
        except (aiosmtplib.SMTPException, OSError) as error:
            raise SendFailed(
                f"cannot reach {self.settings.host}:{self.settings.port}: {error}", permanent=False
            ) from error

    def flatten(self, message: EmailMessage, recipients: list[str]) -> FlatMessage | Refusal:
        """``message`` as this server is to receive it, or why it cannot go to ``recipients``.

        The choices aiosmtplib's ``send_message`` makes (SMTPUTF8 for an address that is not
        ASCII, 8-bit bodies where the server takes them), made apart from the send so that the
        dispatcher can make them while the server answers for the message before.
        """
        utf8 = not all(address.isascii() for address in [self.settings.sender, *recipients])
        options: list[str] = []
        if utf8:
            if not self._client.supports_extension("smtputf8"):
                return Refusal("cannot send: an address is not ASCII and the server has no SMTPUTF8", True)
            options.append("SMTPUTF8")
        eight_bit = self._client.supports_extension("8bitmime")
        if eight_bit:
            options.append("BODY=8BITMIME")
        try:
            data = flatten_message(message, utf8=utf8, cte_type="8bit" if eight_bit else "7bit")
        except ValueError as error:
            return Refusal(f"cannot send: {error}", permanent=True)
        return FlatMessage(data, tuple(options))

    async def send(self, message: FlatMessage | Refusal, recipients: list[str]) -> Outcome:
        """Send ``message`` (see :meth:`flatten`) to ``recipients`` only, not to every address in it."""
        if self.broken is not None:
            return dict.fromkeys(recipients, self.broken)
        if isinstance(message, Refusal):
            return dict.fromkeys(recipients, message)
        try:
            # sendmail returns normally when at least one recipient is accepted, with the
            # refused ones and their replies; it raises SMTPRecipientsRefused when all are.
            refused, _ = await self._client.sendmail(
                self.settings.sender, recipients, message.data, mail_options=list(message.mail_options)
            )
        except aiosmtplib.SMTPRecipientsRefused as error:
            refusals = {one.recipient: Refusal.reply(one.code, one.message) for one in error.recipients}
            return {recipient: refusals.get(recipient, Refusal("refused", False)) for recipient in recipients}
        except aiosmtplib.SMTPResponseException as error:
            # MAIL FROM or DATA refused: the reply is about the message, so about every recipient.
            return dict.fromkeys(recipients, Refusal.reply(error.code, error.message))
        except ValueError as error:
            # An address or a header aiosmtplib will not put on the wire: no retry can help.
            return dict.fromkeys(recipients, Refusal(f"cannot send: {error}", permanent=True))
        except (aiosmtplib.SMTPException, OSError) as error:
            # The connection broke: whether the server kept this message is unknown, so it goes
            # again (same Message-ID), and so does every later one.
            self.broken = Refusal(f"connection lost: {error}", permanent=False)
            return dict.fromkeys(recipients, self.broken)
        return {
            recipient: Refusal.reply(refused[recipient].code, refused[recipient].message)
            if recipient in refused
            else None
            for recipient in recipients
        }

    async def close(self) -> None:
        try:
            await self._client.quit()
        except (aiosmtplib.SMTPException, OSError):
            self._client.close()
