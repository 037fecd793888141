"""The remediation lifecycle's acts, from notification to closure.

Each act is one transaction: the case's change, its audit rows, the next
milestone (its due date reckoned once, from the programme the case is pinned
to) and the emails it causes commit together or not at all. An act that does
not fit the case's state raises :class:`IllegalTransition`; input that breaks
a rule raises :class:`InvalidInput` and changes nothing.

Nothing here takes or returns a child's identity: see :func:`identify_child`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from remediation_flows.core.approvals import (
    Decider,
    DecisionView,
    all_approved,
    approvals_on,
    decisions_of_case,
    record_decision,
)
from remediation_flows.core.case_sources import CaseSource
from remediation_flows.core.case_states import (
    DECIDE_CLOSURE,
    DECIDE_PLAN,
    NEW_ROUND,
    OPEN_A_CASE,
    OPEN_STATES,
    PROPOSE_PLAN,
    RECORD_ASSESSMENT,
    RECORD_FOLLOW_UP,
    RECORD_REINTEGRATION,
    REOPEN,
    WITHDRAW,
    Act,
    CaseState,
)
from remediation_flows.core.clocks import SiteCalendar
from remediation_flows.core.config.minimum_age import HAZARDOUS_WORK_AGE
from remediation_flows.core.config.model import Duration, DurationUnit, Programme, Role
from remediation_flows.core.errors import InvalidInput, NotFound
from remediation_flows.core.escalation import resolve_recipients
from remediation_flows.core.holds import active_holds, hold_label
from remediation_flows.core.mail.i18n import step_title, words
from remediation_flows.core.mail.render import extension_mail, format_instant
from remediation_flows.core.notices import enqueue_task_mail
from remediation_flows.core.safeguarding.free_text import screen_case_texts
from remediation_flows.core.store import repository as repo
from remediation_flows.core.store.repository import CaseStore
from remediation_flows.core.store.schema import (
    Assessment,
    AuditEvent,
    Case,
    FollowUpVisit,
    Milestone,
    Reintegration,
    RemediationPlan,
    utcnow,
)
from remediation_flows.core.task_links import LinkRequest, current_programme

#: The case sources under the name the notification form and the callers have always used.
Source = CaseSource


class SuspectedCause(StrEnum):
    FORGED_ID = "forged_id"
    LABOUR_AGENT = "labour_agent"
    VOCATIONAL_SCHOOL_PLACEMENT = "vocational_school_placement"
    SUBCONTRACTOR = "subcontractor"
    FAMILY_POVERTY = "family_poverty"
    UNKNOWN = "unknown"


class AgeVerification(StrEnum):
    IDENTITY_DOCUMENTS = "identity_documents"
    BIRTH_CERTIFICATE = "birth_certificate"
    SCHOOL_RECORDS = "school_records"
    PARENTS_OR_COMMUNITY = "parents_or_community"
    LABOUR_OFFICE = "labour_office"
    MEDICAL_CHECK = "medical_check"


class AssessmentOutcome(StrEnum):
    CHILD_LABOURER = "child_labourer"
    YOUNG_WORKER = "young_worker"
    NOT_A_CHILD = "not_a_child"


class Pathway(StrEnum):
    SCHOOLING = "schooling"
    VOCATIONAL_TRAINING = "vocational_training"
    YOUNG_WORKER_PROTECTION = "young_worker_protection"


class Payer(StrEnum):
    SUPPLIER = "supplier"
    BRAND = "brand"
    SHARED = "shared"
    NGO = "ngo"


#: The notification form allows this many children; one notification is opened in one transaction.
MAX_CHILDREN_PER_NOTIFICATION = 50


@dataclass(frozen=True)
class Notification:
    """What is known when a suspected child worker is reported. No names, by design."""

    enterprise_id: str
    site_id: str
    notified_at: dt.datetime
    source: Source
    children_count: int = 1
    suspected_age: int | None = None
    suspected_cause: SuspectedCause | None = None


class ChildSex(StrEnum):
    """Recorded for the field's breakdowns; on its own it identifies nobody."""

    FEMALE = "female"
    MALE = "male"


@dataclass(frozen=True)
class AssessmentReport:
    age_years: int
    age_verification: AgeVerification
    outcome: AssessmentOutcome
    removed_from_work: bool
    safe_place: bool
    child_consent: bool
    guardian_consent: bool
    sex: ChildSex | None = None


@dataclass(frozen=True)
class PlanProposal:
    pathway: Pathway
    monthly_stipend: Decimal
    currency: str
    school_fees: Decimal
    payer: Payer


@dataclass(frozen=True)
class ReintegrationReport:
    effective_on: dt.date
    first_stipend_paid_on: dt.date | None = None
    evidence_reference: str | None = None
    hazardous_tasks_removed: bool | None = None
    hours_reduced: bool | None = None
    night_shifts_stopped: bool | None = None


@dataclass(frozen=True)
class VisitReport:
    visited_on: dt.date
    attending_school: bool
    stipend_paid: bool
    back_at_work: bool
    findings: str | None = None


@dataclass(frozen=True)
class MilestoneView:
    key: str
    step: str
    title: str
    owner_role: str
    due_at: dt.datetime
    due_local: str
    escalation_level: int
    #: "" when the clock runs; else since when and why it waits (a reason from holds.HoldReason).
    on_hold: str = ""


@dataclass(frozen=True)
class CaseView:
    """What a case is waiting for, by reference only: safe to show in Prefect."""

    reference: str
    enterprise_id: str
    site_id: str
    site_name: str
    state: str
    round: int
    outcome: str | None
    case_manager: str | None
    open_milestones: list[MilestoneView]
    plan_id: int | None = None
    plan_status: str | None = None
    plans_proposed: int = 0
    pending_approvals: list[str] = field(default_factory=list)
    decisions_made: int = 0
    closure_pending: list[str] = field(default_factory=list)
    effective_on: dt.date | None = None
    visits_done: int = 0
    #: Every approval decision so far: who, in which role, verified or on whose behalf, when.
    decisions: list[DecisionView] = field(default_factory=list)

    @property
    def is_finished(self) -> bool:
        return self.state in (CaseState.CLOSED, CaseState.WITHDRAWN)

    def milestone(self, step: str) -> MilestoneView | None:
        return next((m for m in self.open_milestones if m.step == step), None)


# --- reading ---------------------------------------------------------------------------------


def _programme(session: Session, case: Case) -> Programme:
    return repo.programme_of(session, case)


def _current_plan(session: Session, case: Case) -> RemediationPlan | None:
    return session.scalars(
        select(RemediationPlan)
        .where(RemediationPlan.case_id == case.id, RemediationPlan.round == case.round)
        .order_by(RemediationPlan.id.desc())
        .limit(1)
    ).first()


def _open_milestone(session: Session, case: Case, step: str) -> Milestone | None:
    return session.scalars(
        select(Milestone)
        .where(Milestone.case_id == case.id, Milestone.kind == step, Milestone.status == "open")
        .order_by(Milestone.id.desc())
        .limit(1)
    ).first()


def _required_milestone(session: Session, case: Case, step: str) -> Milestone:
    """The case's open milestone of ``step``; its absence means the store disagrees with the state."""
    milestone = _open_milestone(session, case, step)
    if milestone is None:
        raise NotFound(f"case {case.reference} has no open '{step}' milestone")
    return milestone


def _required_reintegration(session: Session, case: Case) -> Reintegration:
    """The round's reintegration record, which monitoring and closure are reckoned from."""
    reintegration = _reintegration(session, case)
    if reintegration is None:
        raise NotFound(f"case {case.reference} has no school reintegration recorded in round {case.round}")
    return reintegration


def _reintegration(session: Session, case: Case) -> Reintegration | None:
    return session.scalars(
        select(Reintegration)
        .where(Reintegration.case_id == case.id, Reintegration.round == case.round)
        .order_by(Reintegration.id.desc())
        .limit(1)
    ).first()


def _visits_done(session: Session, case: Case, since: dt.date | None) -> int:
    query = select(func.count()).select_from(FollowUpVisit).where(FollowUpVisit.case_id == case.id)
    if since is not None:
        query = query.where(FollowUpVisit.visited_on >= since)
    return session.scalar(query) or 0


def _view(session: Session, case: Case) -> CaseView:
    programme = _programme(session, case)
    site = programme.site(case.site_id)
    milestones = session.scalars(
        select(Milestone)
        .where(Milestone.case_id == case.id, Milestone.status == "open")
        .order_by(Milestone.due_at)
    ).all()
    holds = active_holds(session, [m.id for m in milestones])
    plan = _current_plan(session, case)
    plan_milestone = _open_milestone(session, case, "remediation_plan")
    plan_approvals = approvals_on(session, plan_milestone, f"plan {plan.id}") if plan else []
    closure = _open_milestone(session, case, "closure")
    reintegration = _reintegration(session, case)
    plans_proposed = session.scalar(
        select(func.count())
        .select_from(RemediationPlan)
        .where(RemediationPlan.case_id == case.id, RemediationPlan.round == case.round)
    )
    return CaseView(
        reference=case.reference,
        enterprise_id=case.enterprise_id,
        site_id=case.site_id,
        site_name=site.name,
        state=case.state,
        round=case.round,
        outcome=case.outcome,
        case_manager=case.case_manager,
        open_milestones=[
            MilestoneView(
                key=m.key,
                step=m.kind,
                title=m.title,
                owner_role=m.owner_role,
                due_at=m.due_at,
                due_local=format_instant(m.due_at, site.time_zone),
                escalation_level=m.escalation_level,
                on_hold=hold_label(holds.get(m.id), site.time_zone),
            )
            for m in milestones
        ],
        plan_id=plan.id if plan else None,
        plan_status=plan.status if plan else None,
        plans_proposed=plans_proposed or 0,
        pending_approvals=[a.role for a in plan_approvals if a.status == "requested"],
        decisions_made=sum(a.status != "requested" for a in plan_approvals),
        closure_pending=[
            a.role for a in approvals_on(session, closure, "closure") if a.status == "requested"
        ],
        effective_on=reintegration.effective_on if reintegration else None,
        visits_done=_visits_done(session, case, reintegration.effective_on if reintegration else None),
        decisions=decisions_of_case(session, case.id),
    )


def case_view(store: CaseStore, reference: str) -> CaseView:
    """Where the case stands and what it waits for."""
    with store.reading() as session:
        return _view(session, repo.get_case(session, reference))


def open_case_views(store: CaseStore) -> list[CaseView]:
    """Every case still in progress, oldest first."""
    with store.reading() as session:
        cases = session.scalars(select(Case).where(Case.state.in_(list(OPEN_STATES))).order_by(Case.id)).all()
        return [_view(session, case) for case in cases]


def open_case_rounds(store: CaseStore, opened_before: dt.datetime) -> list[tuple[str, int]]:
    """(reference, round) of every case still in progress that was opened before ``opened_before``."""
    with store.reading() as session:
        return [
            (reference, round_number)
            for reference, round_number in session.execute(
                select(Case.reference, Case.round)
                .where(Case.state.in_(list(OPEN_STATES)), Case.created_at < opened_before)
                .order_by(Case.id)
            )
        ]


def refusals(store: CaseStore, prompt_key: str) -> tuple[int, str | None]:
    """How many answers to ``prompt_key`` were refused, and why the last one was.

    Prompt keys name their case or cycle, so they are unique across the store.
    """
    with store.reading() as session:
        reasons = session.scalars(
            select(AuditEvent.reason)
            .where(AuditEvent.action == "input_refused", AuditEvent.entity_id == prompt_key)
            .order_by(AuditEvent.id)
        ).all()
        return len(reasons), (reasons[-1] if reasons else None)


def record_refusal(
    store: CaseStore, prompt_key: str, message: str, actor: str, reference: str | None = None
) -> None:
    """Audit an answer that broke a rule, so the next prompt asks again under a new key."""
    with store.transaction() as session:
        case_id = repo.get_case(session, reference).id if reference and reference.startswith("CL-") else None
        repo.record_audit(
            session,
            actor=actor,
            action="input_refused",
            entity="prompt",
            entity_id=prompt_key,
            case_id=case_id,
            reason=message,
        )


# --- helpers that write ----------------------------------------------------------------------


def _milestone_key(case: Case, step: str, number: int | None = None) -> str:
    suffix = f"/{number}" if number is not None else ""
    return f"{case.reference}/r{case.round}/{step}{suffix}"


def schedule_step(
    session: Session,
    programme: Programme,
    case: Case,
    step: str,
    start: dt.datetime,
    actor: str,
    number: int | None = None,
) -> Milestone:
    """Create the step's milestone for the case (once), due by the programme's rules from ``start``."""
    reckoning = repo.reckon_step(programme, case.site_id, step, start)
    title = step_title("en", step) + (f" {number}" if number is not None else "")
    milestone, _ = repo.add_milestone(
        session,
        programme,
        key=_milestone_key(case, step, number),
        site_id=case.site_id,
        step=step,
        title=title,
        due_at=reckoning.due_at,
        actor=actor,
        case=case,
    )
    return milestone


def _notify(
    session: Session,
    programme: Programme,
    case: Case,
    milestone: Milestone,
    roles: Sequence[Role],
    instructions: str,
    actor: str,
    *,
    as_enterprise_task: bool = False,
    links: LinkRequest | None = None,
) -> None:
    """Email ``roles`` what to do by the milestone's due date; an enterprise's task is also listed as one.

    ``links`` names the roles whose people answer through a personal task link.
    """
    mail = enqueue_task_mail(
        session,
        programme,
        milestone,
        roles,
        instructions,
        reference=case.reference,
        contact_role=Role.CASE_MANAGER,
        case_manager=case.case_manager,
        case_id=case.id,
        links=links,
        case=case,
        actor=actor,
    )
    if mail is not None and as_enterprise_task:
        repo.add_enterprise_task(
            session,
            enterprise_id=case.enterprise_id,
            title=mail.subject,
            instructions=instructions,
            due_at=milestone.due_at,
            actor=actor,
            case=case,
            milestone=milestone,
        )


def _locked_case(session: Session, reference: str, act: Act) -> Case:
    """The case, locked for ``act``; :class:`IllegalTransition` if the act may not start from its state."""
    case = repo.get_case(session, reference, for_update=True)
    act.check_source(case.reference, case.state)
    return case


def _move(session: Session, case: Case, act: Act, target: CaseState, *, actor: str, reason: str) -> None:
    """Move the case to ``target``, one of the states ``act`` declares it may lead to."""
    act.check_target(case.reference, case.state, target)
    repo.transition_case(session, case, target, actor=actor, reason=reason)


def _complete(session: Session, case: Case, step: str, actor: str, reason: str) -> None:
    milestone = _open_milestone(session, case, step)
    if milestone is not None:
        repo.complete_milestone(session, milestone, actor=actor, reason=reason)


def _money(value: Decimal, what: str) -> Decimal:
    if value < 0:
        raise InvalidInput(f"{what} must not be negative (got {value})")
    return value


# --- the acts --------------------------------------------------------------------------------


def open_case(
    store: CaseStore,
    programme: Programme,
    notification: Notification,
    actor: str,
    case_manager: str | None = None,
    due_diligence_cycle_id: int | None = None,
) -> CaseView:
    """Register a notified case and start its 72-hour on-site assessment clock."""
    with store.transaction() as session:
        return open_case_in(session, programme, notification, actor, case_manager, due_diligence_cycle_id)


def open_notification(
    store: CaseStore, programme: Programme, notification: Notification, actor: str, key: str
) -> list[CaseView]:
    """Open one case per child of a notification, all or none, once per ``key``.

    The cases are written in one transaction, so a crash opens no child or every child. A second
    call with the same ``key`` (a retried or resumed run) opens nothing and returns the same cases.
    """
    if not 1 <= notification.children_count <= MAX_CHILDREN_PER_NOTIFICATION:
        raise InvalidInput(
            f"children_count must be 1 to {MAX_CHILDREN_PER_NOTIFICATION}, not {notification.children_count}"
        )
    one_child = replace(notification, children_count=1)
    with store.transaction() as session:
        opened = session.scalars(
            select(Case).where(Case.notification_key == key).order_by(Case.notification_child)
        ).all()
        if opened:
            return [_view(session, case) for case in opened]
        return [
            open_case_in(session, programme, one_child, actor, notification_key=key, notification_child=child)
            for child in range(1, notification.children_count + 1)
        ]


def open_case_in(
    session: Session,
    programme: Programme,
    notification: Notification,
    actor: str,
    case_manager: str | None = None,
    due_diligence_cycle_id: int | None = None,
    *,
    notification_key: str | None = None,
    notification_child: int | None = None,
) -> CaseView:
    """:func:`open_case` inside the caller's transaction (a monitoring visit that finds a child)."""
    programme.site(notification.site_id)
    if notification.enterprise_id != programme.enterprise_id:
        raise InvalidInput(
            f"notification is for enterprise '{notification.enterprise_id}', "
            f"programme is '{programme.enterprise_id}'"
        )
    if notification.suspected_age is not None and not 5 <= notification.suspected_age <= 25:
        raise InvalidInput(f"suspected_age {notification.suspected_age} is not a plausible age (5 to 25)")
    repo.register_programme(session, programme, actor=actor)
    case = repo.open_case(
        session,
        programme,
        site_id=notification.site_id,
        notified_at=notification.notified_at,
        source=str(notification.source),
        actor=actor,
        children_count=notification.children_count,
        suspected_age=notification.suspected_age,
        suspected_cause=str(notification.suspected_cause) if notification.suspected_cause else None,
        case_manager=case_manager
        or next(iter(programme.emails_for([Role.CASE_MANAGER], notification.site_id)), None),
        due_diligence_cycle_id=due_diligence_cycle_id,
        notification_key=notification_key,
        notification_child=notification_child,
    )
    _move(
        session,
        case,
        OPEN_A_CASE,
        CaseState.ON_SITE_ASSESSMENT,
        actor=actor,
        reason=f"notified by {notification.source}",
    )
    milestone = schedule_step(session, programme, case, "on_site_assessment", notification.notified_at, actor)
    w = words(programme.language)
    _notify(
        session,
        programme,
        case,
        milestone,
        [Role.ENTERPRISE_FOCAL_POINT],
        w["instr.remove_from_work"],
        actor,
        as_enterprise_task=True,
    )
    _notify(session, programme, case, milestone, [Role.CASE_MANAGER], w["instr.on_site_assessment"], actor)
    return _view(session, case)


def identify_child(
    store: CaseStore,
    reference: str,
    *,
    full_name: str,
    actor: str,
    birth_date: dt.date | None = None,
    address: str | None = None,
    school: str | None = None,
    guardian_name: str | None = None,
    photo_reference: str | None = None,
) -> None:
    """Store the child's identity; the only door for personal data, and it never opens onto Prefect."""
    if birth_date is not None and birth_date > dt.date.today():
        raise InvalidInput("birth_date: is in the future (the date is not repeated: it is the child's)")
    with store.transaction() as session:
        case = repo.get_case(session, reference, for_update=True)
        repo.record_child_identity(
            session,
            case,
            full_name=full_name,
            actor=actor,
            birth_date=birth_date,
            address=address,
            school=school,
            guardian_name=guardian_name,
            photo_reference=photo_reference,
        )


def record_assessment(store: CaseStore, reference: str, report: AssessmentReport, actor: str) -> CaseView:
    """The on-site assessment's findings; the outcome decides the path the case takes."""
    with store.transaction() as session:
        case = _locked_case(session, reference, RECORD_ASSESSMENT)
        programme = _programme(session, case)
        site = programme.site(case.site_id)
        minimum_age = programme.minimum_age_for(site.country)
        _check_assessment(report, minimum_age, site.country)
        session.add(
            Assessment(
                case_id=case.id,
                round=case.round,
                age_years=report.age_years,
                age_verification=str(report.age_verification),
                outcome=str(report.outcome),
                removed_from_work=report.removed_from_work,
                safe_place=report.safe_place,
                child_consent=report.child_consent,
                guardian_consent=report.guardian_consent,
                sex=str(report.sex) if report.sex else None,
                assessed_by=actor,
                assessed_at=utcnow(),
            )
        )
        _complete(session, case, "on_site_assessment", actor, f"outcome: {report.outcome}")
        if report.outcome is AssessmentOutcome.NOT_A_CHILD:
            _move(
                session,
                case,
                RECORD_ASSESSMENT,
                CaseState.WITHDRAWN,
                actor=actor,
                reason=f"not a child: age verified as {report.age_years} by {report.age_verification}",
            )
            return _view(session, case)
        case.outcome = str(report.outcome)
        _move(
            session,
            case,
            RECORD_ASSESSMENT,
            CaseState.REMEDIATION_PLAN,
            actor=actor,
            reason=f"assessed as {report.outcome}",
        )
        milestone = schedule_step(session, programme, case, "remediation_plan", utcnow(), actor)
        _notify(
            session,
            programme,
            case,
            milestone,
            [Role.CASE_MANAGER],
            words(programme.language)["instr.remediation_plan"],
            actor,
        )
        return _view(session, case)


def _check_assessment(report: AssessmentReport, minimum_age: int, country: str) -> None:
    if not 5 <= report.age_years <= 30:
        raise InvalidInput(f"age_years {report.age_years} is not a plausible verified age (5 to 30)")
    if report.outcome is AssessmentOutcome.CHILD_LABOURER and report.age_years >= minimum_age:
        raise InvalidInput(
            f"outcome child_labourer needs an age under {country}'s minimum working age {minimum_age}, "
            f"not {report.age_years}"
        )
    if (
        report.outcome is AssessmentOutcome.YOUNG_WORKER
        and not minimum_age <= report.age_years < HAZARDOUS_WORK_AGE
    ):
        raise InvalidInput(
            f"outcome young_worker needs an age from {minimum_age} to {HAZARDOUS_WORK_AGE - 1}, "
            f"not {report.age_years}"
        )
    if report.outcome is AssessmentOutcome.NOT_A_CHILD and report.age_years < HAZARDOUS_WORK_AGE:
        raise InvalidInput(
            f"outcome not_a_child needs an age of {HAZARDOUS_WORK_AGE} or more, not {report.age_years}"
        )
    if report.outcome is not AssessmentOutcome.NOT_A_CHILD and not report.removed_from_work:
        raise InvalidInput("the child must be removed from work before the assessment is recorded")
    if report.outcome is not AssessmentOutcome.NOT_A_CHILD and not report.guardian_consent:
        raise InvalidInput("remediation needs the guardian's consent: record it, or withdraw the case")


def propose_plan(store: CaseStore, reference: str, proposal: PlanProposal, actor: str) -> CaseView:
    """A remediation plan, sent to each configured role for approval."""
    with store.transaction() as session:
        case = _locked_case(session, reference, PROPOSE_PLAN)
        programme = _programme(session, case)
        current = _current_plan(session, case)
        if current is not None and current.status == "proposed":
            raise InvalidInput(f"plan {current.id} of case {reference} is still awaiting decisions")
        young = case.outcome == AssessmentOutcome.YOUNG_WORKER
        if young != (proposal.pathway is Pathway.YOUNG_WORKER_PROTECTION):
            expected = "young_worker_protection" if young else "schooling or vocational_training"
            raise InvalidInput(
                f"a case assessed as {case.outcome} needs the pathway {expected}, not {proposal.pathway}"
            )
        if len(proposal.currency) != 3 or not proposal.currency.isalpha():
            raise InvalidInput(f"currency '{proposal.currency}' is not an ISO 4217 code such as BDT or MXN")
        plan = RemediationPlan(
            case_id=case.id,
            round=case.round,
            pathway=str(proposal.pathway),
            monthly_stipend=_money(proposal.monthly_stipend, "monthly_stipend"),
            currency=proposal.currency.upper(),
            school_fees=_money(proposal.school_fees, "school_fees"),
            payer=str(proposal.payer),
            status="proposed",
            proposed_by=actor,
        )
        session.add(plan)
        session.flush()
        repo.record_audit(
            session,
            actor=actor,
            action="plan_proposed",
            entity="case",
            entity_id=case.reference,
            case_id=case.id,
            details={
                "plan": plan.id,
                "pathway": plan.pathway,
                "stipend": f"{plan.monthly_stipend} {plan.currency}",
            },
        )
        milestone = _open_milestone(session, case, "remediation_plan") or schedule_step(
            session, programme, case, "remediation_plan", utcnow(), actor
        )
        roles = programme.step("remediation_plan").approval
        if not roles:
            _accept_plan(session, programme, case, plan, actor, PROPOSE_PLAN)
            return _view(session, case)
        repo.request_approvals(session, milestone, roles, actor=actor, subject=f"plan {plan.id}")
        instructions = words(programme.language)["instr.review_plan"].format(
            pathway=plan.pathway,
            stipend=plan.monthly_stipend,
            currency=plan.currency,
            fees=plan.school_fees,
            payer=plan.payer,
        )
        _notify(
            session,
            programme,
            case,
            milestone,
            roles,
            instructions,
            actor,
            links=LinkRequest("remediation_plan", tuple(roles), f"plan {plan.id}"),
        )
        return _view(session, case)


def decide_plan(
    store: CaseStore,
    reference: str,
    role: Role | str,
    approved: bool,
    actor: str,
    comment: str | None = None,
    *,
    decider: Decider | None = None,
) -> CaseView:
    """One role's decision on the current plan; the last approval moves the case on.

    ``decider`` says whose decision it is and how we know (a task link, or staff on their behalf);
    without it, ``actor`` is taken as the approver, unverified. The approver must hold ``role`` in
    the enterprise's programme, and by default may not be the plan's proposer.
    """
    decider = decider or Decider(person=actor, verified=False)
    with store.transaction() as session:
        case = _locked_case(session, reference, DECIDE_PLAN)
        screen_case_texts(session, case, comment=comment)
        programme = _programme(session, case)
        plan = _current_plan(session, case)
        if plan is None or plan.status != "proposed":
            raise InvalidInput(f"case {reference} has no remediation plan awaiting a decision")
        milestone = _required_milestone(session, case, "remediation_plan")
        subject = f"plan {plan.id}"
        record_decision(
            session,
            current_programme(session, case.enterprise_id),
            milestone,
            subject,
            role,
            approved=approved,
            decider=decider,
            comment=comment,
            proposer=plan.proposed_by,
        )
        actor = decider.actor
        if not approved:
            plan.status = "rejected"
            repo.record_audit(
                session,
                actor=actor,
                action="plan_rejected",
                entity="case",
                entity_id=case.reference,
                case_id=case.id,
                reason=comment,
                details={"plan": plan.id, "role": str(role)},
            )
            repo.void_task_links(
                session,
                actor=actor,
                reason=f"plan {plan.id} was rejected",
                milestone_id=milestone.id,
                subject=subject,
            )
            instructions = words(programme.language)["instr.plan_rejected"].format(comment=comment)
            _notify(session, programme, case, milestone, [Role.CASE_MANAGER], instructions, actor)
        elif all_approved(session, milestone, subject):
            _accept_plan(session, programme, case, plan, actor, DECIDE_PLAN)
        return _view(session, case)


def _accept_plan(
    session: Session, programme: Programme, case: Case, plan: RemediationPlan, actor: str, act: Act
) -> None:
    plan.status = "accepted"
    repo.record_audit(
        session,
        actor=actor,
        action="plan_accepted",
        entity="case",
        entity_id=case.reference,
        case_id=case.id,
        details={"plan": plan.id},
    )
    _complete(session, case, "remediation_plan", actor, f"plan {plan.id} accepted")
    young = plan.pathway == Pathway.YOUNG_WORKER_PROTECTION
    target = CaseState.YOUNG_WORKER_PROTECTION if young else CaseState.SCHOOL_REINTEGRATION
    _move(session, case, act, target, actor=actor, reason=f"plan {plan.id} accepted by every role")
    step = target.value
    if step not in programme.remediation_steps:
        step = "school_reintegration"  # a programme without a young-worker step uses the reintegration rules
    milestone = schedule_step(session, programme, case, step, utcnow(), actor)
    instructions = words(programme.language)[f"instr.{target.value}"].format(
        pathway=plan.pathway, stipend=plan.monthly_stipend, currency=plan.currency
    )
    _notify(
        session,
        programme,
        case,
        milestone,
        [Role.ENTERPRISE_FOCAL_POINT],
        instructions,
        actor,
        as_enterprise_task=True,
        links=LinkRequest(milestone.kind, (Role.ENTERPRISE_FOCAL_POINT,)),
    )


def record_reintegration(
    store: CaseStore, reference: str, report: ReintegrationReport, actor: str
) -> CaseView:
    """Enrolment confirmed (or, for a young worker, protection in place); monitoring begins."""
    with store.transaction() as session:
        case = _locked_case(session, reference, RECORD_REINTEGRATION)
        screen_case_texts(session, case, evidence_reference=report.evidence_reference)
        programme = _programme(session, case)
        young = case.state == CaseState.YOUNG_WORKER_PROTECTION
        if young:
            missing = [
                name
                for name in ("hazardous_tasks_removed", "hours_reduced", "night_shifts_stopped")
                if not getattr(report, name)
            ]
            if missing:
                raise InvalidInput(
                    f"young-worker protection is not in place: {', '.join(missing)} not confirmed"
                )
        else:
            if report.first_stipend_paid_on is None:
                raise InvalidInput("first_stipend_paid_on is required: the first stipend must be paid")
            if not (report.evidence_reference or "").strip():
                raise InvalidInput("evidence_reference is required (enrolment letter and payment receipt)")
        session.add(
            Reintegration(
                case_id=case.id,
                round=case.round,
                kind="young_worker_protection" if young else "school_reintegration",
                effective_on=report.effective_on,
                first_stipend_paid_on=report.first_stipend_paid_on,
                evidence_reference=report.evidence_reference,
                hazardous_tasks_removed=report.hazardous_tasks_removed,
                hours_reduced=report.hours_reduced,
                night_shifts_stopped=report.night_shifts_stopped,
                recorded_by=actor,
            )
        )
        for step in ("school_reintegration", "young_worker_protection"):
            _complete(session, case, step, actor, f"in place from {report.effective_on}")
        _move(
            session,
            case,
            RECORD_REINTEGRATION,
            CaseState.MONITORING,
            actor=actor,
            reason=f"reintegrated from {report.effective_on}",
        )
        schedule_visit(session, programme, case, report.effective_on, 1, actor)
        return _view(session, case)


def _visit_start(programme: Programme, effective_on: dt.date, number: int) -> dt.date:
    """The day follow-up visit ``number`` is planned, from the reintegration date."""
    rule = programme.monitoring
    offsets = list(rule.follow_up_offsets)
    day = effective_on
    for index in range(number):
        offset = offsets[index] if index < len(offsets) else rule.repeat_every or offsets[-1]
        day = day + dt.timedelta(days=offset.amount if offset.unit is not DurationUnit.HOURS else 1)
    return day


def schedule_visit(
    session: Session, programme: Programme, case: Case, effective_on: dt.date, number: int, actor: str
) -> Milestone:
    """Create follow-up visit ``number``'s milestone and tell the case manager."""
    site = programme.site(case.site_id)
    planned = _visit_start(programme, effective_on, number)
    start = dt.datetime.combine(planned, dt.time(0, 0), tzinfo=SiteCalendar(site).zone)
    milestone = schedule_step(session, programme, case, "follow_up_visit", start, actor, number=number)
    instructions = words(programme.language)["instr.follow_up_visit"].format(number=number)
    _notify(session, programme, case, milestone, [Role.CASE_MANAGER], instructions, actor)
    return milestone


def _below_working_age_on(session: Session, case: Case, day: dt.date, minimum_age: int) -> bool:
    """Whether the child is still under ``minimum_age`` on ``day``.

    From the date stored on the case when the birth date was recorded, so that no worker needs the
    personal-data key for it; else from the age verified at the latest assessment.
    """
    if case.reaches_working_age_on is not None:
        return day < case.reaches_working_age_on
    assessment = session.scalars(
        select(Assessment).where(Assessment.case_id == case.id).order_by(Assessment.id.desc()).limit(1)
    ).first()
    if assessment is None:
        raise NotFound(f"case {case.reference} has no assessment to reckon the child's age from")
    age = assessment.age_years + int((day - assessment.assessed_at.date()).days / 365.2425)
    return age < minimum_age


def _monitoring_continues(
    session: Session, programme: Programme, case: Case, visits: int, effective_on: dt.date
) -> bool:
    rule = programme.monitoring
    if visits < len(rule.follow_up_offsets):
        return True
    if rule.max_visits is not None and visits >= rule.max_visits:
        return False
    if (
        not rule.until_minimum_working_age
        or rule.repeat_every is None
        or case.outcome == AssessmentOutcome.YOUNG_WORKER
    ):
        return False
    next_visit = _visit_start(programme, effective_on, visits + 1)
    minimum_age = programme.minimum_age_for(programme.site(case.site_id).country)
    return _below_working_age_on(session, case, next_visit, minimum_age)


def record_follow_up(store: CaseStore, reference: str, report: VisitReport, actor: str) -> CaseView:
    """A monitoring visit: the child back at work re-opens remediation; else the next visit or closure."""
    with store.transaction() as session:
        case = _locked_case(session, reference, RECORD_FOLLOW_UP)
        screen_case_texts(session, case, findings=report.findings)
        programme = _programme(session, case)
        milestone = _open_milestone(session, case, "follow_up_visit")
        if milestone is None:
            raise InvalidInput(f"case {reference} has no follow-up visit due (closure is awaiting approval)")
        reintegration = _required_reintegration(session, case)
        repo.record_follow_up_visit(
            session,
            case,
            visited_on=report.visited_on,
            attending_school=report.attending_school,
            stipend_paid=report.stipend_paid,
            back_at_work=report.back_at_work,
            findings=report.findings,
            actor=actor,
            milestone=milestone,
            enrolled_on=reintegration.effective_on,
        )
        repo.complete_milestone(session, milestone, actor=actor, reason="visit recorded")
        visits = _visits_done(session, case, reintegration.effective_on)
        if report.back_at_work:
            _reopen(session, programme, case, actor, f"found at work again at follow-up visit {visits}")
        elif _monitoring_continues(session, programme, case, visits, reintegration.effective_on):
            schedule_visit(session, programme, case, reintegration.effective_on, visits + 1, actor)
        else:
            closure = schedule_step(session, programme, case, "closure", utcnow(), actor)
            roles = programme.step("closure").approval or (Role.PROGRAM_MANAGER,)
            repo.request_approvals(session, closure, roles, actor=actor, subject="closure")
            _notify(
                session,
                programme,
                case,
                closure,
                roles,
                words(programme.language)["instr.closure"],
                actor,
                links=LinkRequest("closure", tuple(roles), "closure"),
            )
        return _view(session, case)


def _reopen(session: Session, programme: Programme, case: Case, actor: str, reason: str) -> None:
    for milestone in session.scalars(
        select(Milestone).where(Milestone.case_id == case.id, Milestone.status == "open")
    ):
        repo.complete_milestone(
            session, milestone, actor=actor, reason=f"re-opened: {reason}", status="cancelled"
        )
    _move(session, case, REOPEN, CaseState.REOPENED, actor=actor, reason=reason)
    _move(session, case, NEW_ROUND, CaseState.REMEDIATION_PLAN, actor=actor, reason="a new plan is needed")
    milestone = schedule_step(session, programme, case, "remediation_plan", utcnow(), actor)
    w = words(programme.language)
    _notify(
        session,
        programme,
        case,
        milestone,
        [Role.ENTERPRISE_FOCAL_POINT, Role.CASE_MANAGER, Role.PROGRAM_MANAGER],
        w["instr.back_at_work"],
        actor,
    )


def decide_closure(
    store: CaseStore,
    reference: str,
    role: Role | str,
    approved: bool,
    actor: str,
    comment: str | None = None,
    *,
    decider: Decider | None = None,
) -> CaseView:
    """A decision on closing the case; a refusal keeps monitoring with one more visit.

    ``decider`` as for :func:`decide_plan`: the approver must hold ``role`` in the programme.
    """
    decider = decider or Decider(person=actor, verified=False)
    with store.transaction() as session:
        case = _locked_case(session, reference, DECIDE_CLOSURE)
        screen_case_texts(session, case, comment=comment)
        programme = _programme(session, case)
        closure = _open_milestone(session, case, "closure")
        if closure is None:
            raise InvalidInput(f"case {reference} has no closure awaiting a decision")
        record_decision(
            session,
            current_programme(session, case.enterprise_id),
            closure,
            "closure",
            role,
            approved=approved,
            decider=decider,
            comment=comment,
        )
        actor = decider.actor
        if not approved:
            repo.complete_milestone(
                session, closure, actor=actor, reason=f"closure refused: {comment}", status="cancelled"
            )
            reintegration = _required_reintegration(session, case)
            visits = _visits_done(session, case, reintegration.effective_on)
            schedule_visit(session, programme, case, reintegration.effective_on, visits + 1, actor)
        elif all_approved(session, closure, "closure"):
            repo.complete_milestone(session, closure, actor=actor, reason="closure approved")
            _move(
                session,
                case,
                DECIDE_CLOSURE,
                CaseState.CLOSED,
                actor=actor,
                reason=comment or "closure approved",
            )
        return _view(session, case)


def reopen_case(store: CaseStore, reference: str, actor: str, reason: str) -> CaseView:
    """Re-open a closed or monitored case (the child found working again): a new plan round begins."""
    if not reason.strip():
        raise InvalidInput("re-opening a case needs a reason")
    with store.transaction() as session:
        case = _locked_case(session, reference, REOPEN)
        screen_case_texts(session, case, reason=reason)
        _reopen(session, _programme(session, case), case, actor, reason)
        return _view(session, case)


def withdraw_case(store: CaseStore, reference: str, actor: str, reason: str) -> CaseView:
    """Withdraw a case that should not go on (not a child, a duplicate); its milestones are cancelled."""
    if not reason.strip():
        raise InvalidInput("withdrawing a case needs a reason")
    with store.transaction() as session:
        case = _locked_case(session, reference, WITHDRAW)
        screen_case_texts(session, case, reason=reason)
        for milestone in session.scalars(
            select(Milestone).where(Milestone.case_id == case.id, Milestone.status == "open")
        ):
            repo.complete_milestone(
                session, milestone, actor=actor, reason=f"withdrawn: {reason}", status="cancelled"
            )
        _move(session, case, WITHDRAW, CaseState.WITHDRAWN, actor=actor, reason=reason)
        return _view(session, case)


def reassign_case(store: CaseStore, reference: str, case_manager: str, actor: str, reason: str) -> CaseView:
    """Hand a case to another case manager (an address from the programme's case managers)."""
    with store.transaction() as session:
        case = repo.get_case(session, reference, for_update=True)
        screen_case_texts(session, case, reason=reason)
        programme = _programme(session, case)
        # The site's case managers and the enterprise's: a case may move to either.
        known = list(
            dict.fromkeys(
                programme.emails_for([Role.CASE_MANAGER], case.site_id)
                + programme.emails_for([Role.CASE_MANAGER])
            )
        )
        if case_manager not in known:
            raise InvalidInput(
                f"'{case_manager}' is not a case manager of {case.enterprise_id} (known: {', '.join(known)})"
            )
        repo.reassign_case_manager(session, case, case_manager, actor=actor, reason=reason)
        return _view(session, case)


def grant_extension(
    store: CaseStore,
    reference: str,
    step: str,
    actor: str,
    reason: str,
    *,
    new_due_at: dt.datetime | None = None,
    working_days: int | None = None,
) -> CaseView:
    """Move an open milestone's deadline (to a date, or by N working days); the enterprise is told."""
    if (new_due_at is None) == (working_days is None):
        raise InvalidInput("give either a new due date or a number of working days, not both")
    if working_days is not None and working_days < 1:
        raise InvalidInput(f"working_days must be at least 1, not {working_days}")
    with store.transaction() as session:
        case = repo.get_case(session, reference, for_update=True)
        screen_case_texts(session, case, reason=reason)
        programme = _programme(session, case)
        milestone = _open_milestone(session, case, step)
        if milestone is None:
            open_steps = [
                m.kind
                for m in session.scalars(
                    select(Milestone).where(Milestone.case_id == case.id, Milestone.status == "open")
                )
            ]
            raise NotFound(
                f"case {reference} has no open '{step}' milestone (open: {', '.join(open_steps) or 'none'})"
            )
        previous = milestone.due_at
        if working_days is not None:
            calendar = SiteCalendar(programme.site(case.site_id))
            new_due_at = calendar.due(previous, Duration(working_days, DurationUnit.WORKING_DAYS)).due_at
        assert new_due_at is not None  # one of the two was given, checked above
        if new_due_at.tzinfo is None:
            new_due_at = new_due_at.replace(tzinfo=SiteCalendar(programme.site(case.site_id)).zone)
        repo.extend_deadline(session, programme, milestone, new_due_at, actor=actor, reason=reason)
        mail = extension_mail(
            programme,
            reference=case.reference,
            site_id=case.site_id,
            step=step,
            previous_due_at=previous,
            new_due_at=new_due_at,
            reason=reason,
            calendar_uid=f"{milestone.key}@remediation-flows",
        )
        recipients = resolve_recipients(
            programme,
            [Role.ENTERPRISE_FOCAL_POINT, Role(milestone.owner_role)],
            case.case_manager,
            case.site_id,
        )
        repo.enqueue_mail(
            session,
            kind="extension",
            recipients=recipients,
            **mail.outbox_fields(),
            enterprise_id=case.enterprise_id,
            case_id=case.id,
            milestone_id=milestone.id,
        )
        return _view(session, case)
