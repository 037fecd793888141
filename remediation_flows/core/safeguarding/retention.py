"""Erasing a child's identity once the programme's retention period after the case's end has passed.

Erasure removes the protected ``child_personal_data`` row and the dates kept apart from it that give
the birth date away (``cases.reaches_working_age_on``, ``cases.turns_18_on``); the pseudonymous case,
its milestones and its audit trail stay. Each erasure is audited (who, when, which case, which rule)
in the transaction that erases. A legal hold on a case stops its erasure until it is released.

The period is the one the enterprise's programme registers now, not the version the case began on:
a change of retention policy applies to every case of the enterprise.
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, delete, exists, false, or_, select
from sqlalchemy.orm import Session

from remediation_flows.core.case_states import ENDED_STATES
from remediation_flows.core.errors import InvalidInput
from remediation_flows.core.safeguarding.free_text import screen_case_texts
from remediation_flows.core.store import repository as repo
from remediation_flows.core.store.repository import CaseStore
from remediation_flows.core.store.schema import Case, ChildPersonalData, IdentityLegalHold, utcnow

RETENTION_RULE = "retention.identity_months"


@dataclass(frozen=True)
class Erasure:
    """One case whose identity is (or, in a dry run, would be) erased, and the rule that expired."""

    case_reference: str
    ended_at: dt.datetime
    retention_months: int
    identity: bool
    age_dates: bool


@dataclass(frozen=True)
class LegalHoldView:
    """A case's legal hold as a person sees it; the reason stays in the case store."""

    case_reference: str
    held_by: str
    held_at: dt.datetime
    released_by: str | None
    released_at: dt.datetime | None


def months_before(instant: dt.datetime, months: int) -> dt.datetime:
    """The same day and time ``months`` calendar months earlier (the month's last day if it is shorter)."""
    index = instant.year * 12 + instant.month - 1 - months
    year, month = divmod(index, 12)
    day = min(instant.day, calendar.monthrange(year, month + 1)[1])
    return instant.replace(year=year, month=month + 1, day=day)


def _expired(session: Session, now: dt.datetime) -> tuple[ColumnElement[bool], dict[str, int]]:
    """Which ended cases are past their enterprise's retention period at ``now``."""
    months = {
        enterprise_id: programme.identity_retention_months
        for enterprise_id, programme in repo.registered_programmes(session).items()
    }
    per_enterprise = [
        and_(Case.enterprise_id == enterprise_id, Case.ended_at <= months_before(now, period))
        for enterprise_id, period in months.items()
    ]
    has_data = or_(
        exists().where(ChildPersonalData.case_id == Case.id),
        Case.reaches_working_age_on.is_not(None),
        Case.turns_18_on.is_not(None),
    )
    condition = and_(
        Case.state.in_([state.value for state in ENDED_STATES]),
        Case.ended_at.is_not(None),
        or_(*per_enterprise) if per_enterprise else false(),
        has_data,
        ~exists().where(IdentityLegalHold.case_id == Case.id, IdentityLegalHold.released_at.is_(None)),
    )
    return condition, months


def erase_expired_identities(
    store: CaseStore,
    actor: str,
    *,
    now: dt.datetime | None = None,
    batch_size: int = 200,
    dry_run: bool = False,
) -> Iterator[list[Erasure]]:
    """Erase every expired identity, one committed batch per list yielded; a dry run writes nothing.

    Running it again erases nothing twice: an erased case no longer has anything to erase.
    """
    if batch_size < 1:
        raise InvalidInput(f"batch_size must be at least 1, not {batch_size}")
    if not actor.strip():
        raise InvalidInput("erasing identities needs who erases them, for the audit trail")
    now = now or utcnow()
    after = 0
    while True:
        with store.reading() if dry_run else store.transaction() as session:
            condition, months = _expired(session, now)
            query = select(Case).where(condition, Case.id > after).order_by(Case.id).limit(batch_size)
            if not dry_run:
                # Two erasures at once take disjoint cases; a hold placed meanwhile waits for our lock.
                query = query.with_for_update(skip_locked=True)
            cases = list(session.scalars(query))
            if not cases:
                return
            batch = [_erase(session, case, months[case.enterprise_id], actor, now, dry_run) for case in cases]
            after = cases[-1].id
        yield batch


def _erase(session: Session, case: Case, months: int, actor: str, now: dt.datetime, dry_run: bool) -> Erasure:
    assert case.ended_at is not None  # the query selects ended cases only
    identity = session.scalar(select(exists().where(ChildPersonalData.case_id == case.id))) or False
    erasure = Erasure(
        case_reference=case.reference,
        ended_at=case.ended_at,
        retention_months=months,
        identity=identity,
        age_dates=case.reaches_working_age_on is not None or case.turns_18_on is not None,
    )
    if dry_run:
        return erasure
    # Deleted unread: erasing needs no key, and the identity never passes through memory here.
    session.execute(delete(ChildPersonalData).where(ChildPersonalData.case_id == case.id))
    case.reaches_working_age_on = None
    case.turns_18_on = None
    repo.record_audit(
        session,
        actor=actor,
        action="child_identity_erased",
        entity="case",
        entity_id=case.reference,
        case_id=case.id,
        reason=f"kept {months} months after the case was {case.state}",
        details={
            "rule": RETENTION_RULE,
            "months": months,
            "ended_at": case.ended_at.isoformat(),
            "identity": erasure.identity,
            "age_dates": erasure.age_dates,
        },
        at=now,
    )
    return erasure


def _required(text: str, what: str) -> str:
    if not text.strip():
        raise InvalidInput(f"{what} must not be empty")
    return text.strip()


def place_legal_hold(store: CaseStore, reference: str, *, reason: str, actor: str) -> LegalHoldView:
    """Stop the erasure of a case's identity until the hold is released; audited with its reason."""
    reason = _required(reason, "reason")
    actor = _required(actor, "by")
    with store.transaction() as session:
        case = repo.get_case(session, reference, for_update=True)
        current = _current_hold(session, case)
        if current is not None:
            raise InvalidInput(
                f"case {reference} is already on legal hold since {current.held_at:%Y-%m-%d} "
                f"(by {current.held_by}); release it first"
            )
        screen_case_texts(session, case, reason=reason)
        hold = IdentityLegalHold(case_id=case.id, reason=reason, held_by=actor, held_at=utcnow())
        session.add(hold)
        repo.record_audit(
            session,
            actor=actor,
            action="identity_legal_hold_placed",
            entity="case",
            entity_id=case.reference,
            case_id=case.id,
            reason=reason,
        )
        return _view(case, hold)


def release_legal_hold(store: CaseStore, reference: str, *, reason: str, actor: str) -> LegalHoldView:
    """End a case's legal hold: its identity may be erased again once its retention has passed."""
    reason = _required(reason, "reason")
    actor = _required(actor, "by")
    with store.transaction() as session:
        case = repo.get_case(session, reference, for_update=True)
        hold = _current_hold(session, case)
        if hold is None:
            raise InvalidInput(f"case {reference} is not on legal hold")
        screen_case_texts(session, case, reason=reason)
        hold.released_by, hold.released_at, hold.release_reason = actor, utcnow(), reason
        repo.record_audit(
            session,
            actor=actor,
            action="identity_legal_hold_released",
            entity="case",
            entity_id=case.reference,
            case_id=case.id,
            reason=reason,
            details={"held_since": hold.held_at.isoformat(), "held_by": hold.held_by},
        )
        return _view(case, hold)


def _current_hold(session: Session, case: Case) -> IdentityLegalHold | None:
    return session.scalar(
        select(IdentityLegalHold).where(
            IdentityLegalHold.case_id == case.id, IdentityLegalHold.released_at.is_(None)
        )
    )


def _view(case: Case, hold: IdentityLegalHold) -> LegalHoldView:
    return LegalHoldView(
        case_reference=case.reference,
        held_by=hold.held_by,
        held_at=hold.held_at,
        released_by=hold.released_by,
        released_at=hold.released_at,
    )
