"""The stipend ledger: money that reaches the family, one payment milestone at a time.

An accepted plan's monthly stipend becomes a ledger line per month (``purpose`` stipend), due at
the close of the programme's payment day in the site's time; interim support (continued wages
between the child's removal and the plan) is a line of its own (``purpose`` interim_support).
Each line has a milestone of step ``stipend_payment`` owned by the payer's role (the enterprise
focal point unless the programme says otherwise), so that it is reminded and escalated by the
sweep like any other. The payer confirms each payment with its amount, day and reference, by
their task link (verified) or through staff (entered on their behalf, with a reason); each
confirmation is audited in its transaction. A line paid in full completes its milestone and
opens the next month's; a short payment leaves it open, so its ladder goes on.

Lines are opened one month at a time, so that a case has one open payment at a time and no step
costs more as the case, or the caseload, grows.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from remediation_flows.core.approvals import Decider
from remediation_flows.core.case_states import CaseState
from remediation_flows.core.casework.common import _notify
from remediation_flows.core.casework.reports import PaymentConfirmation
from remediation_flows.core.clocks import END_OF_DAY, SiteCalendar
from remediation_flows.core.config.model import Programme, Role, StipendRule
from remediation_flows.core.errors import InvalidInput, NotFound
from remediation_flows.core.mail.i18n import step_title, text
from remediation_flows.core.money import Money, as_amount, format_money
from remediation_flows.core.safeguarding.free_text import screen_case_texts
from remediation_flows.core.statuses import MilestoneStatus
from remediation_flows.core.store import repository as repo
from remediation_flows.core.store.repository import CaseStore
from remediation_flows.core.store.schema import (
    Case,
    Milestone,
    RemediationPlan,
    StipendInstalment,
    StipendPayment,
    TaskLink,
)
from remediation_flows.core.task_links import LinkRequest, holds_role, use_link

PAYMENT_STEP = "stipend_payment"
#: The states in which the child has been removed from work and no plan pays yet.
INTERIM_STATES = frozenset({CaseState.ON_SITE_ASSESSMENT, CaseState.REMEDIATION_PLAN})


class PaymentPurpose(StrEnum):
    STIPEND = "stipend"
    INTERIM_SUPPORT = "interim_support"


@dataclass(frozen=True)
class LedgerLine:
    """One line of the ledger as staff and the artifacts show it (references and amounts only)."""

    purpose: str
    number: int
    amount_due: Decimal
    currency: str
    due_on: dt.date
    amount_paid: Decimal
    settled_on: dt.date | None
    milestone_key: str

    @property
    def on_time(self) -> bool:
        """Paid in full by its due day."""
        return self.settled_on is not None and self.settled_on <= self.due_on

    def status(self, today: dt.date) -> str:
        """paid, paid late, short (part paid), overdue or open."""
        if self.settled_on is not None:
            return "paid" if self.on_time else "paid late"
        if self.amount_paid > 0:
            return "short"
        return "overdue" if today > self.due_on else "open"

    def describe(self, language: str, today: dt.date) -> str:
        """e.g. "stipend 2 due 2027-01-05: BDT8,000.00, paid BDT6,000.00 (short)"."""
        due = format_money(self.amount_due, self.currency, language)
        paid = format_money(self.amount_paid, self.currency, language)
        what = self.purpose.replace("_", " ")
        return f"{what} {self.number} due {self.due_on}: {due}, paid {paid} ({self.status(today)})"


def payment_day_after(rule: StipendRule, day: dt.date) -> dt.date:
    """The first payment day strictly after ``day``."""
    candidate = day.replace(day=rule.payment_day)
    return candidate if candidate > day else _next_month(candidate)


def _next_month(day: dt.date) -> dt.date:
    # The payment day is at most 28, which every month has.
    return day.replace(year=day.year + day.month // 12, month=day.month % 12 + 1)


def _line(instalment: StipendInstalment, milestone_key: str) -> LedgerLine:
    return LedgerLine(
        instalment.purpose,
        instalment.number,
        instalment.amount_due,
        instalment.currency,
        instalment.due_on,
        instalment.amount_paid,
        instalment.settled_on,
        milestone_key,
    )


def add_instalment(
    session: Session,
    programme: Programme,
    case: Case,
    *,
    purpose: PaymentPurpose,
    number: int,
    amount: Decimal,
    currency: str,
    due_on: dt.date,
    actor: str,
    plan: RemediationPlan | None = None,
) -> StipendInstalment:
    """Open one ledger line and its payment milestone, and ask the payer to pay and confirm it."""
    site = programme.site(case.site_id)
    due_at = dt.datetime.combine(due_on, END_OF_DAY, tzinfo=SiteCalendar(site).zone)
    milestone, _ = repo.add_milestone(
        session,
        programme,
        key=f"{case.reference}/r{case.round}/{purpose}/{number}",
        site_id=case.site_id,
        step=PAYMENT_STEP,
        title=f"{step_title('en', purpose)} {number}",
        due_at=due_at,
        actor=actor,
        case=case,
    )
    instalment = StipendInstalment(
        case_id=case.id,
        round=case.round,
        purpose=str(purpose),
        number=number,
        plan_id=plan.id if plan else None,
        milestone_id=milestone.id,
        amount_due=amount,
        currency=currency,
        due_on=due_on,
        amount_paid=Decimal(0),
        created_by=actor,
    )
    session.add(instalment)
    session.flush()
    repo.record_audit(
        session,
        actor=actor,
        action="stipend_instalment_opened",
        entity="case",
        entity_id=case.reference,
        case_id=case.id,
        details={
            "purpose": str(purpose),
            "number": number,
            "amount_due": str(amount),
            "currency": currency,
            "due_on": due_on.isoformat(),
        },
    )
    payer = Role(milestone.owner_role)
    instructions = text(
        "instr.stipend_payment", title=text(f"step.{purpose}"), number=number, amount=Money(amount, currency)
    )
    _notify(
        session,
        programme,
        case,
        milestone,
        [payer],
        instructions,
        actor,
        as_enterprise_task=True,
        links=LinkRequest(PAYMENT_STEP, (payer,)),
    )
    return instalment


def open_stipend_ledger(
    session: Session,
    programme: Programme,
    case: Case,
    plan: RemediationPlan,
    accepted_on: dt.date,
    actor: str,
) -> StipendInstalment | None:
    """The accepted plan's first monthly payment, due on the first payment day after ``accepted_on``.

    A plan without a stipend (a young worker who keeps the wage) opens no ledger.
    """
    if plan.monthly_stipend <= 0:
        return None
    return add_instalment(
        session,
        programme,
        case,
        purpose=PaymentPurpose.STIPEND,
        number=1,
        amount=plan.monthly_stipend,
        currency=plan.currency,
        due_on=payment_day_after(programme.stipends, accepted_on),
        actor=actor,
        plan=plan,
    )


def record_interim_support(
    store: CaseStore,
    reference: str,
    amount: Decimal | int | str,
    currency: str,
    due_on: dt.date,
    actor: str,
) -> LedgerLine:
    """Interim support (continued wages) owed between the child's removal and the plan, as a ledger line."""
    with store.transaction() as session:
        case = repo.get_case(session, reference, for_update=True)
        if case.state not in INTERIM_STATES:
            raise InvalidInput(
                f"case {reference} is {case.state}: interim support is recorded between the child's "
                "removal and the plan's acceptance (on-site assessment or remediation plan)"
            )
        code = _currency(currency)
        value = as_amount(amount, code, "amount")
        if value <= 0:
            raise InvalidInput("amount must be more than zero")
        programme = repo.programme_of(session, case)
        done = session.scalar(
            select(func.count())
            .select_from(StipendInstalment)
            .where(
                StipendInstalment.case_id == case.id,
                StipendInstalment.round == case.round,
                StipendInstalment.purpose == PaymentPurpose.INTERIM_SUPPORT,
            )
        )
        instalment = add_instalment(
            session,
            programme,
            case,
            purpose=PaymentPurpose.INTERIM_SUPPORT,
            number=(done or 0) + 1,
            amount=value,
            currency=code,
            due_on=due_on,
            actor=actor,
        )
        milestone = session.get(Milestone, instalment.milestone_id)
        assert milestone is not None
        return _line(instalment, milestone.key)


def _currency(code: str) -> str:
    if len(code) != 3 or not code.isalpha():
        raise InvalidInput(f"currency '{code}' is not an ISO 4217 code such as BDT or MXN")
    return code.upper()


def open_instalment(
    session: Session, case: Case, purpose: PaymentPurpose | None = None, number: int | None = None
) -> tuple[StipendInstalment, Milestone]:
    """The case's oldest unsettled line (of ``purpose`` and ``number`` when given) with an open milestone."""
    query = (
        select(StipendInstalment, Milestone)
        .join(Milestone, Milestone.id == StipendInstalment.milestone_id)
        .where(
            StipendInstalment.case_id == case.id,
            StipendInstalment.settled_on.is_(None),
            Milestone.status == MilestoneStatus.OPEN,
        )
        .order_by(StipendInstalment.due_on, StipendInstalment.id)
        .limit(1)
    )
    if purpose is not None:
        query = query.where(StipendInstalment.purpose == str(purpose))
    if number is not None:
        query = query.where(StipendInstalment.number == number)
    row = session.execute(query).first()
    if row is None:
        which = f" {purpose} {number or ''}".rstrip() if purpose else ""
        raise NotFound(f"case {case.reference} has no{which} payment awaiting confirmation")
    return row[0], row[1]


def confirm_payment(
    store: CaseStore,
    reference: str,
    confirmation: PaymentConfirmation,
    confirmer: Decider,
    *,
    purpose: PaymentPurpose | None = None,
    number: int | None = None,
) -> LedgerLine:
    """The payer's confirmation of a payment against the case's oldest open line (or the one named)."""
    with store.transaction() as session:
        case = repo.get_case(session, reference, for_update=True)
        instalment, milestone = open_instalment(session, case, purpose, number)
        return apply_confirmation(session, case, instalment, milestone, confirmation, confirmer)


def apply_confirmation(
    session: Session,
    case: Case,
    instalment: StipendInstalment,
    milestone: Milestone,
    confirmation: PaymentConfirmation,
    confirmer: Decider,
    task_link_id: int | None = None,
) -> LedgerLine:
    """Record one confirmed payment in the caller's transaction, with its audit row.

    Paid in full: the milestone is done (on time or late, by the day paid) and the next month's
    line opens. Short: the milestone stays open, so the sweep goes on escalating it.
    """
    screen_case_texts(
        session,
        case,
        payment_reference=confirmation.payment_reference,
        on_behalf_reason=confirmer.on_behalf_reason,
    )
    programme = repo.current_programme(session, case.enterprise_id)
    pinned = repo.programme_of(session, case)
    role = milestone.owner_role
    if not holds_role(programme, confirmer.person, role, case.site_id):
        raise InvalidInput(
            f"{confirmer.person} does not hold the role {role} that pays at site {case.site_id} in "
            f"{case.enterprise_id}'s programme"
        )
    if not confirmer.verified:
        if not pinned.step(PAYMENT_STEP).approval_policy.staff_may_record:
            raise InvalidInput("only the payer's own task link may confirm this payment")
        if confirmer.on_behalf and not (confirmer.on_behalf_reason or "").strip():
            raise InvalidInput("on_behalf_reason is required when staff confirm a payment for the payer")
    if _currency(confirmation.currency) != instalment.currency:
        raise InvalidInput(
            f"currency {confirmation.currency} is not the ledger's {instalment.currency} for this payment"
        )
    amount = as_amount(confirmation.amount, instalment.currency, "amount")
    if amount <= 0:
        raise InvalidInput("amount must be more than zero")
    reference = confirmation.payment_reference.strip()
    if not reference or len(reference) > 120:
        raise InvalidInput("payment_reference is required (at most 120 characters): the transfer or receipt")
    today = dt.datetime.now(SiteCalendar(pinned.site(case.site_id)).zone).date()
    if confirmation.paid_on > today:
        raise InvalidInput(f"paid_on {confirmation.paid_on} is in the future (today is {today} at the site)")
    payment = StipendPayment(
        instalment_id=instalment.id,
        amount=amount,
        currency=instalment.currency,
        paid_on=confirmation.paid_on,
        payment_reference=reference,
        confirmed_for=confirmer.person,
        recorded_by=confirmer.actor,
        verified=confirmer.verified,
        on_behalf_reason=confirmer.on_behalf_reason if confirmer.on_behalf else None,
        task_link_id=task_link_id,
    )
    session.add(payment)
    instalment.amount_paid = instalment.amount_paid + amount
    settled = instalment.amount_paid >= instalment.amount_due
    if settled:
        instalment.settled_on = confirmation.paid_on
    session.flush()
    late_days = (confirmation.paid_on - instalment.due_on).days
    repo.record_audit(
        session,
        actor=confirmer.actor,
        action="stipend_payment_confirmed",
        entity="case",
        entity_id=case.reference,
        case_id=case.id,
        reason=confirmer.on_behalf_reason if confirmer.on_behalf else None,
        details={
            "payment": payment.id,
            "purpose": instalment.purpose,
            "number": instalment.number,
            "amount": str(amount),
            "currency": instalment.currency,
            "paid_on": confirmation.paid_on.isoformat(),
            "payment_reference": reference,
            "for": confirmer.person,
            "role": role,
            "verified": confirmer.verified,
            "task_link": task_link_id,
            "outcome": ("late" if late_days > 0 else "on time") if settled else "short",
            "shortfall": None if settled else str(instalment.amount_due - instalment.amount_paid),
        },
    )
    if settled:
        how = f"paid in full on {confirmation.paid_on}" + (
            f", {late_days} day(s) late" if late_days > 0 else ""
        )
        repo.complete_milestone(session, milestone, actor=confirmer.actor, reason=how)
        _open_next_month(session, pinned, case, instalment, confirmer.actor)
    return _line(instalment, milestone.key)


def _open_next_month(
    session: Session, programme: Programme, case: Case, paid: StipendInstalment, actor: str
) -> None:
    if paid.purpose != PaymentPurpose.STIPEND or paid.number >= programme.stipends.months:
        return
    if case.state in (CaseState.CLOSED, CaseState.WITHDRAWN, CaseState.REOPENED) or case.round != paid.round:
        return
    plan = session.get(RemediationPlan, paid.plan_id) if paid.plan_id else None
    add_instalment(
        session,
        programme,
        case,
        purpose=PaymentPurpose.STIPEND,
        number=paid.number + 1,
        amount=paid.amount_due,
        currency=paid.currency,
        # The schedule is the plan's, not the payer's: a late payment does not push the next one back.
        due_on=_next_month(paid.due_on),
        actor=actor,
        plan=plan,
    )


def confirm_payment_by_link(
    store: CaseStore, token: str, reference: str, confirmation: PaymentConfirmation
) -> LedgerLine:
    """The payer's own confirmation through their task link: verified, and the link spent, in one transaction.

    The link names the payment (its milestone); :class:`~remediation_flows.core.task_links.LinkRefused`
    if it cannot be used, and any refusal of the payment leaves the link unused.
    """
    recorded: list[LedgerLine] = []

    def apply(session: Session, link: TaskLink, case: Case, milestone: Milestone) -> None:
        instalment = session.scalars(
            select(StipendInstalment).where(StipendInstalment.milestone_id == milestone.id)
        ).one()
        payer = Decider(person=link.recipient, verified=True)
        recorded.append(
            apply_confirmation(
                session, case, instalment, milestone, confirmation, payer, task_link_id=link.id
            )
        )

    use_link(
        store,
        token,
        reference,
        PAYMENT_STEP,
        answered_key=f"{reference}-payment-link",
        answer={
            "amount": str(confirmation.amount),
            "currency": confirmation.currency,
            "paid_on": confirmation.paid_on.isoformat(),
            "payment_reference": confirmation.payment_reference,
        },
        deliver=lambda _task: None,
        apply=apply,
    )
    return recorded[0]


def cancel_payments_not_yet_due(session: Session, programme: Programme, case: Case, actor: str) -> int:
    """Cancel the open payments whose due day has not come (the case closed); returns how many.

    A payment already due and unpaid stays open: the family is still owed it, and its ladder goes on.
    """
    today = dt.datetime.now(SiteCalendar(programme.site(case.site_id)).zone).date()
    rows = session.execute(
        select(StipendInstalment, Milestone)
        .join(Milestone, Milestone.id == StipendInstalment.milestone_id)
        .where(
            StipendInstalment.case_id == case.id,
            StipendInstalment.due_on >= today,
            Milestone.status == MilestoneStatus.OPEN,
        )
    ).all()
    for _, milestone in rows:
        repo.complete_milestone(
            session,
            milestone,
            actor=actor,
            reason="case closed before this payment fell due",
            status=MilestoneStatus.CANCELLED,
        )
    return len(rows)


def payment_awaited(store: CaseStore, reference: str) -> LedgerLine:
    """The case's oldest payment awaiting confirmation; :class:`NotFound` when none is."""
    with store.reading() as session:
        case = repo.get_case(session, reference)
        instalment, milestone = open_instalment(session, case)
        return _line(instalment, milestone.key)


def ledger_of(session: Session, case: Case) -> list[LedgerLine]:
    """Every line of the case's ledger (all rounds), by due day."""
    rows = session.execute(
        select(StipendInstalment, Milestone.key)
        .join(Milestone, Milestone.id == StipendInstalment.milestone_id)
        .where(StipendInstalment.case_id == case.id)
        .order_by(StipendInstalment.due_on, StipendInstalment.id)
    ).all()
    return [_line(instalment, key) for instalment, key in rows]


def stipend_ledger(store: CaseStore, reference: str) -> list[LedgerLine]:
    """The case's ledger, read without locking."""
    with store.reading() as session:
        return ledger_of(session, repo.get_case(session, reference))
