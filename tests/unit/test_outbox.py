"""The outbox dispatcher against a real aiosmtpd server: once, in batches, retries, failures."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter

import pytest
from sqlalchemy import select

from remediation_flows.core.mail import outbox
from remediation_flows.core.mail.outbox import (
    DEFAULT_LEASE,
    backoff,
    claim_batch,
    dispatch,
    release_expired_claims,
)
from remediation_flows.core.mail.transport import Security, SmtpSettings
from remediation_flows.core.store import repository as repo
from remediation_flows.core.store.schema import AuditEvent, OutboxMessage
from tests.conftest import ROOT, free_port, recording_smtp_server


def after_enqueueing() -> dt.datetime:
    """A dispatch instant just after the rows were enqueued (enqueue_mail makes them due now): a fixed
    date stopped the rows being due once the calendar passed it."""
    return dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1)


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
    start = after_enqueueing()
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
    start = after_enqueueing()
    claimed, _ = claim_batch(store, start, 10, dt.timedelta(minutes=10))  # then the process dies
    assert len(claimed) == 1
    assert (await dispatch(store, settings(port), now=start + dt.timedelta(minutes=5))).claimed == 0
    later = await dispatch(store, settings(port), now=start + dt.timedelta(minutes=11))
    assert later.sent == 1
    assert handler.parsed()[0]["Message-ID"] == message_id


def test_backoff_doubles_up_to_an_hour():
    assert [backoff(n).total_seconds() for n in (1, 2, 3, 7, 20)] == [60, 120, 240, 3600, 3600]


def outbox_rows(store) -> list[OutboxMessage]:
    with store.transaction() as session:
        return list(session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


async def test_a_partly_refused_message_reaches_the_accepted_recipient_once_and_names_the_refused_one(
    store, garment_brand, smtp_server
):
    handler, port = smtp_server
    [message_id] = enqueue(
        store, garment_brand, 1, recipients=("compliance@northwind-apparel.example", "refuse@example.org")
    )
    first = await dispatch(store, settings(port))
    assert (first.sent, first.retrying, first.failed) == (0, 0, 1)
    assert handler.received() == [(message_id, ["compliance@northwind-apparel.example"])]
    [row, notice] = outbox_rows(store)
    assert row.status == "failed" and row.sent_at is not None
    assert row.last_error.startswith("refuse@example.org: 550")
    assert {recipient: entry["status"] for recipient, entry in row.deliveries.items()} == {
        "compliance@northwind-apparel.example": "sent",
        "refuse@example.org": "failed",
    }
    # The program manager hears of the refused recipient only, and the original does not go again.
    assert (notice.kind, notice.recipients, notice.status) == (
        "delivery_failed",
        ["li.wen@ngo.example"],
        "pending",
    )
    assert "refuse@example.org" in notice.body_text
    assert "compliance@northwind-apparel.example" not in notice.body_text
    with store.transaction() as session:
        audit = session.scalars(select(AuditEvent).where(AuditEvent.action == "email_failed")).one()
        assert audit.details["failed"] == ["refuse@example.org"]
    second = await dispatch(store, settings(port))
    assert (second.claimed, second.sent) == (1, 1)
    assert [message for message, _ in handler.received()].count(message_id) == 1
    assert handler.received()[1][1] == ["li.wen@ngo.example"]
    assert (
        await dispatch(store, settings(port), now=dt.datetime.now(dt.UTC) + dt.timedelta(days=1))
    ).claimed == 0


async def test_a_greylisted_recipient_is_retried_after_the_backoff_and_only_that_one(
    store, garment_brand, smtp_server
):
    handler, port = smtp_server
    handler.rcpt_replies["grey@example.org"] = ["451 4.7.1 Greylisted, try again later"]
    [message_id] = enqueue(
        store, garment_brand, 1, recipients=("compliance@northwind-apparel.example", "grey@example.org")
    )
    start = after_enqueueing()
    first = await dispatch(store, settings(port), now=start)
    assert (first.sent, first.retrying, first.failed) == (0, 1, 0)
    [row] = outbox_rows(store)
    assert (row.status, row.next_attempt_at) == ("pending", start + backoff(1))
    assert row.last_error == "grey@example.org: 451 4.7.1 Greylisted, try again later"
    assert (await dispatch(store, settings(port), now=start + dt.timedelta(seconds=30))).claimed == 0
    second = await dispatch(store, settings(port), now=start + dt.timedelta(minutes=1))
    assert (second.sent, second.retrying, second.failed) == (1, 0, 0)
    assert handler.received() == [
        (message_id, ["compliance@northwind-apparel.example"]),
        (message_id, ["grey@example.org"]),
    ]
    [row] = outbox_rows(store)  # no failure notice either
    assert (row.status, row.last_error, row.attempts) == ("sent", None, 2)
    assert row.deliveries["grey@example.org"]["attempts"] == 2
    assert row.deliveries["compliance@northwind-apparel.example"]["attempts"] == 1
    assert (await dispatch(store, settings(port), now=start + dt.timedelta(hours=2))).claimed == 0


async def test_a_451_for_the_only_recipient_is_transient_not_a_failure(store, garment_brand, smtp_server):
    handler, port = smtp_server
    handler.rcpt_replies["busy@example.org"] = ["451 4.2.1 Mailbox busy", "452 4.2.2 Over quota for now"]
    enqueue(store, garment_brand, 1, recipients=("busy@example.org",))
    start = after_enqueueing()
    assert (await dispatch(store, settings(port), now=start)).retrying == 1
    assert (await dispatch(store, settings(port), now=start + dt.timedelta(minutes=1))).retrying == 1
    assert handler.received() == []
    assert (await dispatch(store, settings(port), now=start + dt.timedelta(minutes=3))).sent == 1
    assert [recipients for _, recipients in handler.received()] == [["busy@example.org"]]
    assert statuses(store) == {"sent": 1}


async def test_recipients_still_refused_when_attempts_run_out_fail_and_the_program_manager_is_told(
    store, garment_brand, smtp_server
):
    handler, port = smtp_server
    handler.rcpt_replies["grey@example.org"] = ["451 4.7.1 Greylisted"] * 3
    enqueue(store, garment_brand, 1, recipients=("compliance@northwind-apparel.example", "grey@example.org"))
    start = after_enqueueing()
    for minutes in (0, 1, 3):
        result = await dispatch(
            store, settings(port), now=start + dt.timedelta(minutes=minutes), max_attempts=3
        )
    assert (result.retrying, result.failed) == (0, 1)
    [row, notice] = outbox_rows(store)
    assert row.deliveries["grey@example.org"] == {
        "status": "failed",
        "attempts": 3,
        "error": "451 4.7.1 Greylisted",
    }
    assert notice.kind == "delivery_failed" and "grey@example.org" in notice.body_text
    assert [recipients for _, recipients in handler.received()] == [["compliance@northwind-apparel.example"]]


async def test_a_dead_dispatchers_claim_frees_up_within_a_minute(store, garment_brand, smtp_server):
    handler, port = smtp_server
    [message_id] = enqueue(store, garment_brand, 1)
    start = after_enqueueing()
    claimed, _ = claim_batch(store, start, 10)  # the default lease; then the process dies
    assert len(claimed) == 1
    assert (await dispatch(store, settings(port), now=start + dt.timedelta(seconds=45))).claimed == 0
    later = await dispatch(store, settings(port), now=start + dt.timedelta(seconds=61))
    assert later.sent == 1
    assert handler.received() == [(message_id, ["compliance@northwind-apparel.example"])]


async def test_a_live_dispatcher_renews_its_claim_so_that_nobody_takes_its_rows_over(
    store, garment_brand, smtp_server
):
    handler, port = smtp_server
    handler.delay = 0.05  # 60 messages take at least 3 s: well beyond the lease
    ids = enqueue(store, garment_brand, 60)
    lease = dt.timedelta(seconds=1.2)
    released: list[int] = []
    done = asyncio.Event()

    async def rival() -> None:
        # Another dispatcher starting now and then, freeing what it sees expired.
        while not done.is_set():
            released.append(release_expired_claims(store, dt.datetime.now(dt.UTC)))
            await asyncio.sleep(0.05)

    watcher = asyncio.create_task(rival())
    started = time.monotonic()
    try:
        result = await dispatch(store, settings(port), lease=lease)
    finally:
        done.set()
        await watcher
    assert time.monotonic() - started > 2 * lease.total_seconds()
    assert (result.claimed, result.sent, sum(released)) == (60, 60, 0)
    assert sorted(message for message, _ in handler.received()) == sorted(ids)


async def test_a_dispatcher_killed_mid_batch_resends_at_most_the_message_in_flight(store, garment_brand):
    """A real dispatcher process, killed while it sends; another one finishes after the lease."""
    with recording_smtp_server() as (handler, port):
        handler.delay = 0.05
        ids = enqueue(store, garment_brand, 100)
        child = subprocess.Popen(
            [sys.executable, "-m", "tests.dispatch_in_child", str(port)],
            cwd=ROOT,
            env={**os.environ, "REMEDIATION_DATABASE_URL": store.url},
            stdout=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 60
            while len(handler.messages) < 20:
                assert child.poll() is None, "the dispatcher ended before it could be killed"
                assert time.monotonic() < deadline, "the dispatcher sent nothing"
                await asyncio.sleep(0.005)
            child.send_signal(signal.SIGKILL)
            child.wait()
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()
        killed_at = dt.datetime.now(dt.UTC)
        at_kill = len(handler.received())
        assert 20 <= at_kill < 100
        # Its claim on the rest is still good for a while, and is gone a minute after it died.
        with store.transaction() as session:
            held = session.scalars(
                select(OutboxMessage.claimed_until).where(OutboxMessage.status == "sending")
            ).all()
        assert held and max(held) <= killed_at + DEFAULT_LEASE
        assert (await dispatch(store, settings(port), now=killed_at)).claimed == 0
        handler.delay = 0
        later = await dispatch(store, settings(port), now=killed_at + DEFAULT_LEASE + dt.timedelta(seconds=1))
        assert later.claimed == len(held)
        assert statuses(store) == {"sent": 100}
        counts = Counter(message for message, _ in handler.received())
        assert set(counts) == set(ids)
        assert sum(count - 1 for count in counts.values()) <= 1, counts.most_common(3)


@pytest.mark.parametrize("store", ["postgresql"], indirect=True)
async def test_on_postgresql_outcomes_are_committed_in_the_event_loop_not_in_threads(
    store, garment_brand, smtp_server, monkeypatch
):
    # Handing each outcome to a thread made the thread and the sender contend for the interpreter
    # lock: a quarter of dispatch's throughput (bench/escalation.py). Only a message that fails
    # someone for good (an audit row and a notice in one transaction) may still take a thread.
    handler, port = smtp_server
    ids = enqueue(store, garment_brand, 5)

    def blocking_write(*_args, **_kwargs):
        raise AssertionError("an outcome went to the blocking writer, in a thread")

    monkeypatch.setattr(outbox._Batch, "_write", blocking_write)
    result = await dispatch(store, settings(port), batch_size=2)
    assert (result.claimed, result.sent, result.errors) == (5, 5, [])
    assert sorted(message["Message-ID"] for message in handler.parsed()) == sorted(ids)
    assert statuses(store) == {"sent": 5}


@pytest.mark.parametrize("store", ["postgresql"], indirect=True)
async def test_on_postgresql_without_an_asyncio_connection_each_outcome_is_still_committed(
    store, garment_brand, smtp_server, monkeypatch
):
    # A PostgreSQL driver without psycopg's asyncio API takes the blocking writer: its UPDATEs
    # must commit one by one there too, not wait in a transaction the pool rolls back.
    _, port = smtp_server
    enqueue(store, garment_brand, 3)

    @contextlib.asynccontextmanager
    async def no_asyncio_connection(_store):
        yield None

    monkeypatch.setattr(outbox, "_outcome_connection", no_asyncio_connection)
    result = await dispatch(store, settings(port), batch_size=2)
    assert (result.claimed, result.sent, result.errors) == (3, 3, [])
    assert statuses(store) == {"sent": 3}


async def test_a_claim_takes_the_earliest_due_rows_in_order_and_counts_the_attempt(store, garment_brand):
    ids = enqueue(store, garment_brand, 5)
    start = after_enqueueing()
    with store.transaction() as session:
        rows = {row.message_id: row for row in session.scalars(select(OutboxMessage))}
        # Due in the order 4, 2, 0, 3; the fifth not yet.
        for minutes_ago, index in [(40, 4), (30, 2), (20, 0), (10, 3)]:
            rows[ids[index]].next_attempt_at = start - dt.timedelta(minutes=minutes_ago)
        rows[ids[1]].next_attempt_at = start + dt.timedelta(minutes=5)
    first, claim = claim_batch(store, start, 3)
    second, other = claim_batch(store, start, 3)
    assert [row.message_id for row in first] == [ids[4], ids[2], ids[0]]
    assert [row.message_id for row in second] == [ids[3]]
    assert claim.ids == {row.id for row in first} and claim.token != other.token
    with store.transaction() as session:
        stored = {row.message_id: row for row in session.scalars(select(OutboxMessage))}
    for index in (4, 2, 0):
        assert (stored[ids[index]].status, stored[ids[index]].attempts) == ("sending", 1)
        assert stored[ids[index]].claimed_by == claim.token
    assert (stored[ids[1]].status, stored[ids[1]].attempts) == ("pending", 0)


async def test_a_row_composed_ahead_but_taken_over_is_not_sent_and_the_next_goes_as_itself(
    store, garment_brand, smtp_server
):
    handler, port = smtp_server
    ids = enqueue(store, garment_brand, 3)
    start = after_enqueueing()
    rows, claim = claim_batch(store, start, 10)
    claim.ids.discard(rows[1].id)  # another dispatcher took the second row over meanwhile
    result = outbox.DispatchResult()
    with store.engine.connect() as writer:
        writer.execution_options(isolation_level="AUTOCOMMIT")
        async with outbox._outcome_connection(store) as outcomes:
            batch = outbox._Batch(store, claim, start, 5, result, None, writer, outcomes)
            await outbox._send(settings(port), rows, batch, DEFAULT_LEASE, lambda: start)
    assert [message["Message-ID"] for message in handler.parsed()] == [ids[0], ids[2]]
    assert [message["Subject"] for message in handler.parsed()] == [
        "[CL-2026-000000] Task",
        "[CL-2026-000002] Task",
    ]
    assert result.sent == 2 and result.errors == [f"{ids[1]}: not sent, another dispatcher took it over"]
    assert sorted(statuses(store).items()) == [("sending", 1), ("sent", 2)]


@pytest.mark.parametrize("store", ["sqlite"], indirect=True)
async def test_on_sqlite_outcomes_are_committed_at_once_in_the_event_loop(
    store, garment_brand, smtp_server, monkeypatch
):
    # A local file's write has no network wait for a thread to overlap: in one, it only contended
    # with the sender for the interpreter lock (bench/escalation.py --only mail).
    handler, port = smtp_server
    ids = enqueue(store, garment_brand, 4)
    written_in: set[int] = set()
    write = outbox._Batch._write

    def watched_write(batch, *args):
        written_in.add(threading.get_ident())
        return write(batch, *args)

    monkeypatch.setattr(outbox._Batch, "_write", watched_write)
    result = await dispatch(store, settings(port), batch_size=3)
    assert (result.claimed, result.sent, result.errors) == (4, 4, [])
    assert written_in == {threading.get_ident()}
    assert sorted(message["Message-ID"] for message in handler.parsed()) == sorted(ids)
    assert statuses(store) == {"sent": 4}
