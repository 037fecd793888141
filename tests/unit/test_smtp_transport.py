"""The dispatcher's SMTP connection puts on the wire what aiosmtplib's send_message would.

The connection flattens a message apart from sending it, so that the dispatcher can flatten the
next message while the server answers for this one; what the server receives must not change.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
from contextlib import contextmanager

import aiosmtplib
import pytest

from remediation_flows.core.mail.transport import (
    FlatMessage,
    Refusal,
    Security,
    SmtpConnection,
    SmtpSettings,
    compose,
)
from remediation_flows.core.store.schema import OutboxMessage
from tests.conftest import free_port

SENDER = "remediation@ngo.example"


class EnvelopeHandler:
    """Keeps each message's MAIL options and its bytes as they arrived."""

    def __init__(self) -> None:
        self.received: list[tuple[list[str], bytes]] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        options = sorted(option.upper() for option in envelope.mail_options)
        # Each flattening draws its own MIME boundary; the rest must be byte for byte the same.
        content = re.sub(rb"=+\d+==", b"BOUNDARY", envelope.original_content)
        self.received.append((options, content))
        return "250 OK"


@contextmanager
def smtp_server(*, smtputf8: bool):
    from aiosmtpd.controller import Controller

    handler = EnvelopeHandler()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port, enable_SMTPUTF8=smtputf8)
    controller.start()
    try:
        yield handler, port
    finally:
        controller.stop()


def outbox_row(recipient: str) -> OutboxMessage:
    return OutboxMessage(
        message_id="<task-1@remediation-flows.local>",
        kind="task",
        recipients=[recipient],
        subject="[CL-2026-000001] مهمة: زيارة المتابعة",  # an Arabic subject: encoded words, 8-bit body
        body_text="يرجى إكمال المهمة.\n" * 3,
        body_html="<p dir='rtl'>يرجى إكمال المهمة.</p>",
        calendar_ics="BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n",
        created_at=dt.datetime(2026, 12, 6, 5, 0, tzinfo=dt.UTC),
    )


@pytest.mark.parametrize(
    ("recipient", "smtputf8"),
    [("compliance@northwind-apparel.example", False), ("conformité@campos.example", True)],
)
async def test_a_flattened_message_arrives_as_send_message_would_send_it(recipient, smtputf8):
    row = outbox_row(recipient)
    with smtp_server(smtputf8=smtputf8) as (handler, port):
        client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port)
        await client.connect()
        await client.send_message(compose(row, SENDER), sender=SENDER, recipients=[recipient])
        await client.quit()
        connection = SmtpConnection(SmtpSettings("127.0.0.1", port, SENDER, Security.NONE))
        await connection.open()
        flat = connection.flatten(compose(row, SENDER), [recipient])
        assert isinstance(flat, FlatMessage)
        assert await connection.send(flat, [recipient]) == {recipient: None}
        await connection.close()
    [by_send_message, by_connection] = handler.received
    assert by_connection == by_send_message
    assert ("SMTPUTF8" in by_connection[0]) is smtputf8


async def test_an_address_that_is_not_ascii_is_refused_for_good_by_a_server_without_smtputf8():
    recipient = "conformité@campos.example"
    with smtp_server(smtputf8=False) as (handler, port):
        connection = SmtpConnection(SmtpSettings("127.0.0.1", port, SENDER, Security.NONE))
        await connection.open()
        flat = connection.flatten(compose(outbox_row(recipient), SENDER), [recipient])
        outcome = await connection.send(flat, [recipient])
        await connection.close()
    assert isinstance(flat, Refusal) and flat.permanent
    assert outcome == {recipient: flat} and "SMTPUTF8" in flat.error
    assert handler.received == []


def self_signed_certificate(folder) -> tuple[str, str]:
    """A certificate for 127.0.0.1 and its key, as PEM files in ``folder``."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    loopback = ipaddress.ip_address("127.0.0.1")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(loopback)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "server.pem", folder / "server.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return str(cert_path), str(key_path)


async def test_over_starttls_the_server_is_greeted_again_and_the_message_arrives_as_flattened(
    tmp_path, monkeypatch
):
    # STARTTLS is the default: after it the server's offer is read anew (RFC 3207), and the message
    # flattened for that offer, as send_message would after its own greeting.
    import ssl

    from aiosmtpd.controller import Controller

    cert, key = self_signed_certificate(tmp_path)
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    monkeypatch.setenv("SSL_CERT_FILE", cert)  # the client trusts only this certificate
    handler = EnvelopeHandler()
    port = free_port()
    controller = Controller(
        handler, hostname="127.0.0.1", port=port, tls_context=server_tls, require_starttls=True
    )
    controller.start()
    recipient = "compliance@northwind-apparel.example"
    try:
        connection = SmtpConnection(SmtpSettings("127.0.0.1", port, SENDER, Security.STARTTLS))
        await connection.open()
        flat = connection.flatten(compose(outbox_row(recipient), SENDER), [recipient])
        assert await connection.send(flat, [recipient]) == {recipient: None}
        await connection.close()
    finally:
        controller.stop()
    [(options, content)] = handler.received
    assert "BODY=8BITMIME" in options and b"Message-ID: <task-1@remediation-flows.local>" in content
