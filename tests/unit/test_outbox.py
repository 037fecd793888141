"""The outbox dispatcher against a real aiosmtpd server: once, in batches, retries, failures."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from remediation_core.mail.outbox import backoff, dispatch
from remediation_core.mail.transport import Security, SmtpSettings
from remediation_core.store import repository as repo
from remediation_core.store.schema import AuditEvent, OutboxMessage
from tests.conftest import free_port

SENDER = "remediation@ngo.example"


def settings(port: int) -> SmtpSettings:
    return SmtpSettings(host="127.0.0.1", port=port, sender=SENDER, security=Security.NONE, timeout=5)


def enqueue(store, programme, count: int, recipients=("compliance@northwind-apparel.example",)) -> list[str]:
    with store.transaction() as session:
        repo.register_programme(session, programme, actor="setup")
        ids = []
        for index in range(count):
            message = repo.enqueue_mail(
                session,
                kind="task",
                recipients=list(recipients),
                subject=f"[CL-2026-{index:06d}] Task",
                body_text="Please act.",
                body_html="<p>Please act.</p>",
                calendar_ics="BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n",
                enterprise_id=programme.enterprise_id,
            )
            ids.append(message.message_id)
    return ids


def statuses(store) -> dict[str, int]:
    with store.transaction() as session:
        rows = session.scalars(select(OutboxMessage)).all()
    found: dict[str, int] = {}
    for row in rows:
        found[row.status] = found.get(row.status, 0) + 1
    return found


async def test_sends_each_message_once_with_its_stable_message_id(store, garment_brand, smtp_server):
    handler, port = smtp_server
    ids = enqueue(store, garment_brand, 7)
    result = await dispatch(store, settings(port), batch_size=3)
    assert (result.claimed, result.sent, result.failed) == (7, 7, 0)
    again = await dispatch(store, settings(port))
    assert again.claimed == 0
    received = handler.parsed()
    assert sorted(m["Message-ID"] for m in received) == sorted(ids)
    first = received[0]
    assert first["From"] == SENDER
    assert [part.get_content_type() for part in first.walk()] == [
        "multipart/mixed",
        "multipart/alternative",
        "text/plain",
        "text/html",
        "text/calendar",
    ]
    assert statuses(store) == {"sent": 7}


async def test_server_down_retries_with_backoff_then_fails_and_tells_the_program_manager(
    store, garment_brand, smtp_server
):
    handler, live_port = smtp_server
    [message_id] = enqueue(store, garment_brand, 1)
    dead = settings(free_port())  # nothing listens there
    start = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    first = await dispatch(store, dead, now=start, max_attempts=3)
    assert (first.sent, first.retrying) == (0, 1)
    with store.transaction() as session:
        row = session.scalars(select(OutboxMessage)).one()
        assert row.next_attempt_at == start + backoff(1) and "cannot reach" in row.last_error
    assert (await dispatch(store, dead, now=start + dt.timedelta(seconds=30))).claimed == 0  # not yet due
    assert (await dispatch(store, dead, now=start + dt.timedelta(minutes=1))).retrying == 1
    third = await dispatch(store, dead, now=start + dt.timedelta(minutes=10), max_attempts=3)
    assert third.failed == 1
    with store.transaction() as session:
        rows = session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).all()
        assert [(r.message_id == message_id, r.status, r.kind) for r in rows] == [
            (True, "failed", "task"),
            (False, "pending", "delivery_failed"),
        ]
        assert rows[1].recipients == ["li.wen@ngo.example"]
        assert session.scalars(select(AuditEvent).where(AuditEvent.action == "email_failed")).one()
    # When the server is back, the failure notice goes to the program manager; the failed one stays failed.
    back = await dispatch(store, settings(live_port), now=start + dt.timedelta(minutes=11))
    assert back.sent == 1
    assert handler.parsed()[0]["Subject"].startswith("Undelivered email: [CL-2026-000000] Task")


async def test_refused_recipient_is_a_permanent_failure(store, garment_brand, smtp_server):
    handler, port = smtp_server
    enqueue(store, garment_brand, 1, recipients=("refuse@example.org",))
    enqueue(store, garment_brand, 1)
    result = await dispatch(store, settings(port))
    assert (result.sent, result.failed, result.retrying) == (1, 1, 0)
    assert len(handler.messages) == 1


async def test_a_dead_dispatchers_claim_expires_and_the_message_goes_with_the_same_id(
    store, garment_brand, smtp_server
):
    handler, port = smtp_server
    [message_id] = enqueue(store, garment_brand, 1)
    start = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    from remediation_core.mail.outbox import claim_batch

    claimed, _ = claim_batch(store, start, 10, dt.timedelta(minutes=10))  # then the process dies
    assert len(claimed) == 1
    assert (await dispatch(store, settings(port), now=start + dt.timedelta(minutes=5))).claimed == 0
    later = await dispatch(store, settings(port), now=start + dt.timedelta(minutes=11))
    assert later.sent == 1
    assert handler.parsed()[0]["Message-ID"] == message_id


def test_backoff_doubles_up_to_an_hour():
    assert [backoff(n).total_seconds() for n in (1, 2, 3, 7, 20)] == [60, 120, 240, 3600, 3600]
