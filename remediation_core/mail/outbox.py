"""The outbox dispatcher: sends what the outbox holds, once, with retries and backoff.

A dispatcher claims a batch (status ``sending`` with a lease), sends it over one
SMTP connection, then records each outcome. Two dispatchers at once claim
disjoint rows (``SKIP LOCKED`` on PostgreSQL, a write lock on SQLite). Every
row keeps one Message-ID for life: if a dispatcher dies after the server
accepted a message but before it was marked sent, the lease expires and the
message goes again with the same Message-ID, which mail systems de-duplicate.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy import and_, select, update

from remediation_core.config.model import Role
from remediation_core.mail.render import delivery_failed_mail
from remediation_core.mail.transport import SmtpSettings, compose, send_batch
from remediation_core.store.repository import CaseStore, enqueue_mail, record_audit, registered_programmes
from remediation_core.store.schema import Case, OutboxMessage, utcnow

DISPATCH_ACTOR = "outbox dispatcher"


@dataclass
class DispatchResult:
    claimed: int = 0
    sent: int = 0
    retrying: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)


def backoff(attempts: int, base: dt.timedelta = dt.timedelta(minutes=1)) -> dt.timedelta:
    """Delay before the next try after ``attempts`` tries: 1, 2, 4... minutes, at most an hour."""
    return min(base * (2 ** max(attempts - 1, 0)), dt.timedelta(hours=1))


def release_expired_claims(store: CaseStore, now: dt.datetime) -> int:
    """Give rows claimed by a dispatcher that died back to the pending queue."""
    with store.transaction() as session:
        result = session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.status == "sending", OutboxMessage.claimed_until < now)
            .values(status="pending", claimed_until=None, next_attempt_at=now)
        )
        return result.rowcount or 0


def claim_batch(
    store: CaseStore, now: dt.datetime, batch_size: int, lease: dt.timedelta
) -> tuple[list[OutboxMessage], dt.datetime]:
    """Claim up to ``batch_size`` due rows for this dispatcher until ``now + lease``."""
    claimed_until = now + lease
    with store.transaction() as session:
        rows = list(
            session.scalars(
                select(OutboxMessage)
                .where(OutboxMessage.status == "pending", OutboxMessage.next_attempt_at <= now)
                .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
                .limit(batch_size)
                .with_for_update(skip_locked=True)
            )
        )
        for row in rows:
            row.status = "sending"
            row.claimed_until = claimed_until
            row.attempts += 1
    return rows, claimed_until


async def dispatch(
    store: CaseStore,
    settings: SmtpSettings,
    *,
    now: dt.datetime | None = None,
    batch_size: int = 200,
    max_attempts: int = 5,
    lease: dt.timedelta = dt.timedelta(minutes=10),
    max_batches: int | None = None,
) -> DispatchResult:
    """Send every pending message that is due, batch after batch, until none is left."""
    now = now or utcnow()
    result = DispatchResult()
    release_expired_claims(store, now)
    batches = 0
    while max_batches is None or batches < max_batches:
        rows, claimed_until = claim_batch(store, now, batch_size, lease)
        if not rows:
            break
        batches += 1
        result.claimed += len(rows)
        outcomes = await send_batch(settings, [compose(row, settings.sender) for row in rows])
        _record_outcomes(store, rows, outcomes, claimed_until, now, max_attempts, result)
        if len(rows) < batch_size:
            break
    return result


def _record_outcomes(
    store: CaseStore,
    rows: list[OutboxMessage],
    outcomes: list,
    claimed_until: dt.datetime,
    now: dt.datetime,
    max_attempts: int,
    result: DispatchResult,
) -> None:
    sent_ids = [row.id for row, outcome in zip(rows, outcomes, strict=True) if outcome is None]
    ours = and_(OutboxMessage.status == "sending", OutboxMessage.claimed_until == claimed_until)
    with store.transaction() as session:
        if sent_ids:
            session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id.in_(sent_ids), ours)
                .values(status="sent", sent_at=utcnow(), claimed_until=None, last_error=None)
            )
            result.sent += len(sent_ids)
        programmes = None
        for row, outcome in zip(rows, outcomes, strict=True):
            if outcome is None:
                continue
            result.errors.append(f"{row.message_id}: {outcome}")
            give_up = outcome.permanent or row.attempts >= max_attempts
            values = {"last_error": str(outcome)[:2000], "claimed_until": None}
            if give_up:
                values["status"] = "failed"
                result.failed += 1
            else:
                values |= {"status": "pending", "next_attempt_at": now + backoff(row.attempts)}
                result.retrying += 1
            session.execute(update(OutboxMessage).where(OutboxMessage.id == row.id, ours).values(**values))
            if give_up:
                programmes = programmes if programmes is not None else registered_programmes(session)
                _escalate_failure(session, programmes, row, str(outcome))


def _escalate_failure(session, programmes: dict, row: OutboxMessage, error: str) -> None:
    record_audit(
        session,
        actor=DISPATCH_ACTOR,
        action="email_failed",
        entity="outbox",
        entity_id=row.id,
        case_id=row.case_id,
        reason=error[:500],
        details={"message_id": row.message_id, "kind": row.kind, "attempts": row.attempts},
    )
    programme = programmes.get(row.enterprise_id or "")
    # A failure notice that itself fails is recorded, not escalated again: no loop.
    if programme is None or row.kind == "delivery_failed":
        return
    reference = session.scalar(select(Case.reference).where(Case.id == row.case_id)) if row.case_id else None
    mail = delivery_failed_mail(
        programme.language, subject=row.subject, recipients=row.recipients, error=error, reference=reference
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
