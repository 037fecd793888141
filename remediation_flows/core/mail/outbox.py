"""The outbox dispatcher: sends what the outbox holds, once per recipient, with retries and backoff.

A dispatcher claims a batch (status ``sending``, a token of its own and a lease),
sends it over one SMTP connection message by message and commits each message's
outcome, recipient by recipient, as soon as the server has answered (on PostgreSQL
while the next message goes out). While it lives it renews the lease of what it
still holds; once it dies the lease (a minute by default) runs out and the next
dispatcher takes the rest over. So a dispatcher killed mid-batch leaves at most the message in flight and
the one before it unrecorded, and those go again with the same Message-ID, which mail
systems de-duplicate.

Two dispatchers at once claim disjoint rows (``SKIP LOCKED`` on PostgreSQL, a
write lock on SQLite), and an outcome is recorded only while the claim is still
the dispatcher's own.

A recipient the server refuses with a 4xx reply (greylisting, mailbox busy) is
tried again after a backoff; one refused with a 5xx reply has failed, and the
program manager is told. A retry goes only to the recipients still pending.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
import socket
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import ColumnElement, Connection, CursorResult, and_, bindparam, select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from remediation_flows.core.config.model import Programme, Role
from remediation_flows.core.mail.render import delivery_failed_mail
from remediation_flows.core.mail.transport import (
    FlatMessage,
    Outcome,
    Refusal,
    SendFailed,
    SmtpConnection,
    SmtpSettings,
    compose,
    compose_between_replies,
)
from remediation_flows.core.statuses import OutboxStatus
from remediation_flows.core.store.bulk import DriverStatement
from remediation_flows.core.store.repository import (
    CaseStore,
    enqueue_mail,
    record_audit,
    registered_programmes,
)
from remediation_flows.core.store.schema import Case, OutboxMessage, utcnow

DISPATCH_ACTOR = "outbox dispatcher"
#: How long a claim lasts without renewal: how soon a dead dispatcher's rows go to another.
DEFAULT_LEASE = dt.timedelta(seconds=60)
#: A live dispatcher renews its claim this often per lease (every 15 s by default), so that a
#: late renewal or two never lets the claim run out under it.
RENEWALS_PER_LEASE = 4

log = logging.getLogger(__name__)


@dataclass
class DispatchResult:
    """What one :func:`dispatch` did, counted by message (a partly delivered message is ``failed``)."""

    claimed: int = 0
    sent: int = 0
    retrying: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)


@dataclass
class Claim:
    """A dispatcher's hold on one batch: its own token, until when, and the rows it still holds."""

    token: str
    until: dt.datetime
    ids: set[int]

    def ours(self) -> ColumnElement[bool]:
        """The condition under which a row is still held by this claim."""
        return and_(OutboxMessage.status == OutboxStatus.SENDING, OutboxMessage.claimed_by == self.token)


def backoff(attempts: int, base: dt.timedelta = dt.timedelta(minutes=1)) -> dt.timedelta:
    """Delay before the next try after ``attempts`` tries: 1, 2, 4... minutes, at most an hour."""
    factor: int = 2 ** max(attempts - 1, 0)  # int ** int is typed Any: a negative power would be a float
    return min(base * factor, dt.timedelta(hours=1))


def release_expired_claims(store: CaseStore, now: dt.datetime) -> int:
    """Give rows claimed by a dispatcher that died back to the pending queue."""
    with store.transaction() as session:
        # An UPDATE's result is a CursorResult, which counts its rows; Session.execute is typed Result.
        result = cast(
            "CursorResult[Any]",
            session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.status == OutboxStatus.SENDING, OutboxMessage.claimed_until < now)
                .values(status=OutboxStatus.PENDING, claimed_until=None, claimed_by=None, next_attempt_at=now)
            ),
        )
        return result.rowcount or 0


def claim_batch(
    store: CaseStore, now: dt.datetime, batch_size: int, lease: dt.timedelta = DEFAULT_LEASE
) -> tuple[list[OutboxMessage], Claim]:
    """Claim up to ``batch_size`` due rows for this dispatcher until ``now + lease``."""
    # Host and process in the token tell an operator whose claim a row is under.
    claim = Claim(f"{socket.gethostname()[:24]}/{os.getpid()}/{uuid.uuid4().hex[:16]}", now + lease, set())
    due = (
        select(OutboxMessage.id)
        .where(OutboxMessage.status == OutboxStatus.PENDING, OutboxMessage.next_attempt_at <= now)
        .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
        .limit(batch_size)
        .with_for_update(skip_locked=True)
    )
    # One statement takes the rows and returns them: the ORM's load-then-flush of each row cost
    # more than sending it would.
    with store.transaction() as session:
        rows = list(
            session.scalars(
                update(OutboxMessage)
                .where(OutboxMessage.id.in_(due.scalar_subquery()))
                .values(
                    status=OutboxStatus.SENDING,
                    claimed_until=claim.until,
                    claimed_by=claim.token,
                    attempts=OutboxMessage.attempts + 1,
                )
                .returning(OutboxMessage)
                .execution_options(synchronize_session=False)
            )
        )
    rows.sort(key=lambda row: (row.next_attempt_at, row.id))
    claim.ids = {row.id for row in rows}
    return rows, claim


def renew_claim(store: CaseStore, claim: Claim, until: dt.datetime) -> None:
    """Extend ``claim`` to ``until`` on the rows it still holds, and forget any taken over meanwhile."""
    if not claim.ids:
        return
    with store.transaction() as session:
        kept = session.scalars(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(claim.ids), claim.ours())
            .values(claimed_until=until)
            .returning(OutboxMessage.id)
            .execution_options(synchronize_session=False)
        ).all()
    claim.ids &= set(kept)
    claim.until = until


async def dispatch(
    store: CaseStore,
    settings: SmtpSettings,
    *,
    now: dt.datetime | None = None,
    batch_size: int = 200,
    max_attempts: int = 5,
    lease: dt.timedelta = DEFAULT_LEASE,
    max_batches: int | None = None,
) -> DispatchResult:
    """Send every pending message that is due, batch after batch, until none is left.

    ``now`` (default: the clock) is when the first batch is claimed; the lease and later
    batches follow the time that passes from there, so a test can start in the future.
    """
    start = now or utcnow()
    started = time.monotonic()

    def clock() -> dt.datetime:
        return start + dt.timedelta(seconds=time.monotonic() - started)

    result = DispatchResult()
    programmes: dict[str, Programme] | None = None
    batches = 0
    # Opened before anything is claimed: a connection that fails to open leaves no row claimed
    # for the length of a lease.
    async with _outcome_connection(store) as outcomes:
        while max_batches is None or batches < max_batches:
            # Later batches are claimed at the time they are, or their lease would be over already.
            batch_now = start if batches == 0 else clock()
            release_expired_claims(store, batch_now)
            rows, claim = claim_batch(store, batch_now, batch_size, lease)
            if not rows:
                break
            batches += 1
            result.claimed += len(rows)
            with contextlib.ExitStack() as held:
                # Without an asyncio connection, outcomes go on a connection held for the batch:
                # at once on SQLite, through a thread on a PostgreSQL driver other than psycopg.
                writer = None if outcomes is not None else held.enter_context(store.engine.connect())
                if writer is not None and writer.dialect.name != "sqlite":
                    # Each outcome's UPDATE must be a transaction of its own on any database.
                    writer.execution_options(isolation_level="AUTOCOMMIT")
                batch = _Batch(store, claim, batch_now, max_attempts, result, programmes, writer, outcomes)
                keeper = asyncio.create_task(_keep_claim(store, claim, lease, clock))
                try:
                    await _send(settings, rows, batch, lease, clock)
                finally:
                    keeper.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await keeper
            programmes = batch.programmes
            if len(rows) < batch_size:
                break
    return result


@contextlib.asynccontextmanager
async def _outcome_connection(store: CaseStore) -> AsyncIterator[Any]:
    """On PostgreSQL through psycopg, a cursor of its asyncio API for the outcomes; else None.

    An outcome written on it waits for the database in the event loop, beside the next send, and
    takes no thread: handing each outcome to a thread made the two contend for the interpreter
    lock, which cost a quarter of the throughput (bench/escalation.py).
    """
    dialect = store.engine.dialect
    if dialect.name != "postgresql" or dialect.driver != "psycopg":
        yield None
        return
    import psycopg

    arguments, options = dialect.create_connect_args(store.engine.url)
    try:
        # One statement is its own transaction: no BEGIN and COMMIT round trips per message.
        connecting = psycopg.AsyncConnection.connect(*arguments, **options, autocommit=True)
        async with await connecting as connection:
            # And its commit does not wait for the disk: once the server has the outcome, a
            # dispatcher that dies loses nothing; only the database server crashing in the next
            # fraction of a second could, and then those messages go again with the same
            # Message-ID, as the one in flight always may. A flush per message cost more than
            # sending it.
            await connection.execute("SET synchronous_commit TO off")
            async with connection.cursor() as cursor:
                yield cursor
    except psycopg.Error as error:
        raise DBAPIError.instance(None, None, error, psycopg.Error, dialect=dialect) from error


async def _keep_claim(
    store: CaseStore, claim: Claim, lease: dt.timedelta, clock: Callable[[], dt.datetime]
) -> None:
    # A task of its own, so that the claim is renewed even while one send waits on a slow server.
    while True:
        await asyncio.sleep(lease.total_seconds() / RENEWALS_PER_LEASE)
        try:
            renew_claim(store, claim, clock() + lease)
        except Exception:  # the sender stops on its own once the claim runs short
            log.warning("could not renew the outbox claim %s", claim.token, exc_info=True)


async def _send(
    settings: SmtpSettings,
    rows: list[OutboxMessage],
    batch: _Batch,
    lease: dt.timedelta,
    clock: Callable[[], dt.datetime],
) -> None:
    connection = SmtpConnection(settings)
    try:
        await connection.open()
    except SendFailed as error:
        unreachable = Refusal(str(error), permanent=False)
        for row in rows:
            await batch.record(row, dict.fromkeys(pending_recipients(row), unreachable))
        return
    # Three things overlap, each waiting while another works: a message's outcome is committed
    # while the next message goes out, and the message after that is composed and flattened while
    # the server answers. The next outcome waits for the one before, so outcomes are committed in
    # order, one at a time; a crash leaves at most the message in flight and the one before
    # unrecorded.
    recording: asyncio.Future[None] | None = None
    upcoming: asyncio.Future[FlatMessage | Refusal] | None = None
    try:
        for index, row in enumerate(rows):
            composed, upcoming = upcoming, None
            if row.id not in batch.claim.ids:
                batch.result.errors.append(f"{row.message_id}: not sent, another dispatcher took it over")
                _discard(composed)
                continue
            if batch.claim.until - clock() < lease / 6:
                # Renewals have failed (or come far too late): stop before another dispatcher may
                # take these rows over. Renewed on time, at least 3/4 of the lease is always left.
                # What is left stays claimed until the lease runs out, then goes to the next one.
                batch.result.errors.append(f"claim {batch.claim.token} could not be renewed; stopped")
                _discard(composed)
                break
            recipients = pending_recipients(row)
            outcome: Outcome = {}
            if recipients:
                if composed is not None:
                    message = await composed
                else:
                    message = connection.flatten(compose(row, settings.sender), recipients)
                if index + 1 < len(rows):
                    upcoming = asyncio.ensure_future(_compose_ahead(connection, rows[index + 1]))
                outcome = await connection.send(message, recipients)
            else:
                _discard(composed)
            if recording is not None:
                await recording
            recording = asyncio.ensure_future(batch.record(row, outcome))
    finally:
        try:
            _discard(upcoming)
            if recording is not None:
                await recording
        finally:
            await connection.close()


async def _compose_ahead(connection: SmtpConnection, row: OutboxMessage) -> FlatMessage | Refusal:
    """``row``'s message composed and flattened in parts, each while the server answers."""
    message = await compose_between_replies(row, connection.settings.sender)
    await asyncio.sleep(0)
    return connection.flatten(message, pending_recipients(row))


def _discard(composing: asyncio.Future[FlatMessage | Refusal] | None) -> None:
    """Drop a message composed ahead that will not be sent, logging why if composing it failed."""
    if composing is None:
        return
    if composing.done() and not composing.cancelled() and composing.exception() is not None:
        log.warning("composing an outbox message failed", exc_info=composing.exception())
    composing.cancel()


def pending_recipients(row: OutboxMessage) -> list[str]:
    """The recipients of ``row`` the server has not yet accepted nor permanently refused."""
    deliveries = row.deliveries or {}
    return [
        recipient
        for recipient in dict.fromkeys(row.recipients)
        if deliveries.get(recipient, {}).get("status", "pending") == "pending"
    ]


# Built once: on the hot path, building the statement anew per message costs more than running it.
_RECORD_OUTCOME = (
    update(OutboxMessage)
    .where(
        OutboxMessage.id == bindparam("row_id"),
        OutboxMessage.status == OutboxStatus.SENDING,
        OutboxMessage.claimed_by == bindparam("token"),
    )
    .values(
        status=bindparam("new_status"),
        deliveries=bindparam("new_deliveries", type_=OutboxMessage.deliveries.type),
        last_error=bindparam("new_last_error"),
        next_attempt_at=bindparam("new_next_attempt_at", type_=OutboxMessage.next_attempt_at.type),
        sent_at=bindparam("new_sent_at", type_=OutboxMessage.sent_at.type),
        claimed_until=None,
        claimed_by=None,
    )
)


@dataclass
class _Outcome:
    """What recording one message's outcome writes, worked out before anything is written."""

    values: dict[str, Any]
    deliveries: dict[str, dict[str, Any]]
    newly_failed: dict[str, str]
    status: OutboxStatus
    last_error: str | None


@dataclass
class _Batch:
    """Records the outcomes of one claimed batch, one short transaction per message.

    A message every recipient of which is done or still to retry costs one UPDATE, on a cursor
    of an asyncio connection (``outcomes``) or else on a connection held for the batch
    (``writer``); one that fails someone for good also writes the audit row and the program
    manager's notice, in one transaction with it.
    """

    store: CaseStore
    claim: Claim
    now: dt.datetime
    max_attempts: int
    result: DispatchResult
    programmes: dict[str, Programme] | None = None
    writer: Connection | None = None
    outcomes: Any = None
    outcome_statement: DriverStatement | None = None

    async def record(self, row: OutboxMessage, outcome: Outcome) -> None:
        """Commit what the server said for each recipient of ``row``, and the row's status."""
        worked_out = self._work_out(row, outcome)
        if self.outcomes is not None and not worked_out.newly_failed:
            dialect = self.store.engine.dialect
            applied = await self._statement().execute_async(self.outcomes, dialect, worked_out.values)
            self._count(row, outcome, worked_out, applied)
        elif self.store.engine.dialect.name == "sqlite":
            # A write to a local file has no network wait for a thread to overlap; handing it to
            # one only made the two contend for the interpreter lock (0.82 of the bare loop, 0.90
            # to 0.99 written here). Another writer holding the file's lock stalls the sending
            # for as long, well within the lease.
            self._write(row, outcome, worked_out)
        else:
            await asyncio.to_thread(self._write, row, outcome, worked_out)

    def _work_out(self, row: OutboxMessage, outcome: Outcome) -> _Outcome:
        accepted_at = utcnow()
        deliveries = {recipient: dict(entry) for recipient, entry in (row.deliveries or {}).items()}
        newly_failed: dict[str, str] = {}
        for recipient, refusal in outcome.items():
            entry = deliveries.setdefault(recipient, {"status": "pending", "attempts": 0})
            entry["attempts"] += 1
            if refusal is None:
                entry.update(status="sent", at=accepted_at.isoformat())
                entry.pop("error", None)
                continue
            entry["error"] = refusal.error[:500]
            if refusal.permanent or row.attempts >= self.max_attempts:
                entry["status"] = "failed"
                newly_failed[recipient] = refusal.error
        states = {deliveries.get(recipient, {}).get("status", "pending") for recipient in row.recipients}
        # Pending while anyone may still get it; failed when someone never will; else sent.
        status = (
            OutboxStatus.PENDING
            if OutboxStatus.PENDING in states
            else OutboxStatus.FAILED
            if OutboxStatus.FAILED in states
            else OutboxStatus.SENT
        )
        last_error = _summary(row.recipients, deliveries)
        retry_at = self.now + backoff(row.attempts) if status is OutboxStatus.PENDING else row.next_attempt_at
        values = {
            "new_status": status,
            "new_deliveries": deliveries,
            "new_last_error": last_error,
            "new_next_attempt_at": retry_at,
            "new_sent_at": accepted_at if None in outcome.values() else row.sent_at,
            "row_id": row.id,
            "token": self.claim.token,
        }
        return _Outcome(values, deliveries, newly_failed, status, last_error)

    def _write(self, row: OutboxMessage, outcome: Outcome, worked_out: _Outcome) -> None:
        """Write ``worked_out`` with the store's blocking API, and count it.

        Called at once on SQLite, in a thread elsewhere.
        """
        if not worked_out.newly_failed:
            assert self.writer is not None, "a batch without an asyncio connection holds a writer"
            # The UPDATE is a transaction of its own, with no BEGIN and COMMIT round trips: on
            # SQLite the driver commits a statement run outside a transaction, and only
            # SQLAlchemy, not asked here, would begin one.
            applied = self._statement().execute(self.writer, worked_out.values)
        else:
            with self.store.transaction() as session:
                applied = session.connection().execute(_RECORD_OUTCOME, worked_out.values).rowcount
                if applied:
                    if self.programmes is None:
                        self.programmes = registered_programmes(session)
                    error = _summary(worked_out.newly_failed, worked_out.deliveries) or ""
                    _escalate_failure(session, self.programmes, row, error, list(worked_out.newly_failed))
        self._count(row, outcome, worked_out, applied)

    def _statement(self) -> DriverStatement:
        if self.outcome_statement is None:
            self.outcome_statement = DriverStatement(_RECORD_OUTCOME, self.store.engine.dialect)
        return self.outcome_statement

    def _count(self, row: OutboxMessage, outcome: Outcome, worked_out: _Outcome, applied: int) -> None:
        self.claim.ids.discard(row.id)
        if not applied:
            # Our lease ran out and another dispatcher holds the row now: its outcome counts.
            self.result.errors.append(f"{row.message_id}: outcome not recorded, the claim was taken over")
            return
        row.deliveries = worked_out.deliveries
        if any(refusal is not None for refusal in outcome.values()):
            self.result.errors.append(f"{row.message_id}: {worked_out.last_error}")
        if worked_out.status is OutboxStatus.SENT:
            self.result.sent += 1
        elif worked_out.status is OutboxStatus.FAILED:
            self.result.failed += 1
        else:
            self.result.retrying += 1


def _summary(recipients: Any, deliveries: dict[str, dict[str, Any]]) -> str | None:
    """Who has not got the message and why, grouped by error: what an operator reads first."""
    by_error: dict[str, list[str]] = {}
    for recipient in dict.fromkeys(recipients):
        entry = deliveries.get(recipient, {})
        if entry.get("status") != "sent" and entry.get("error"):
            by_error.setdefault(entry["error"], []).append(recipient)
    if not by_error:
        return None
    return "; ".join(f"{', '.join(names)}: {error}" for error, names in by_error.items())[:2000]


def _escalate_failure(
    session: Session, programmes: dict[str, Programme], row: OutboxMessage, error: str, failed: list[str]
) -> None:
    """Audit that ``failed`` will not get ``row`` and tell the program manager, naming them."""
    record_audit(
        session,
        actor=DISPATCH_ACTOR,
        action="email_failed",
        entity="outbox",
        entity_id=row.id,
        case_id=row.case_id,
        reason=error[:500],
        details={"message_id": row.message_id, "kind": row.kind, "attempts": row.attempts, "failed": failed},
    )
    programme = programmes.get(row.enterprise_id or "")
    # A failure notice that itself fails is recorded, not escalated again: no loop.
    if programme is None or row.kind == "delivery_failed":
        return
    reference = session.scalar(select(Case.reference).where(Case.id == row.case_id)) if row.case_id else None
    mail = delivery_failed_mail(
        programme.language, subject=row.subject, recipients=failed, error=error, reference=reference
    )
    enqueue_mail(
        session,
        kind="delivery_failed",
        recipients=programme.emails_for([Role.PROGRAM_MANAGER]),
        **mail.outbox_fields(),
        enterprise_id=row.enterprise_id,
        case_id=row.case_id,
        milestone_id=row.milestone_id,
    )
