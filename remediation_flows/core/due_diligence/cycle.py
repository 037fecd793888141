"""The due-diligence cycle's acts, each one transaction with its audit rows, milestones and emails.

Steps, in order: risk assessment (a questionnaire per site), policies and procedures
(reviewed, then approved by the configured roles), training (planned, then
attendance), monitoring (a visit to each high-risk site; a child found at work opens
a remediation case linked to the cycle), communication (the annual report, approved).
Every step is a milestone with the configured deadline and the same escalation as
any other; the annual report is due by the legal clock when a financial year end is set.
"""

from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from remediation_flows.core import casework as cw
from remediation_flows.core.approvals import Decider, all_approved, approvals_on, record_decision
from remediation_flows.core.clocks import SiteCalendar
from remediation_flows.core.config.model import Programme, Role
from remediation_flows.core.cycle_links import (
    decision_question,
    find_cycle,
    open_milestone,
    void_question_links,
)
from remediation_flows.core.due_diligence.legal_regimes import DueDate, add_months, next_due_dates
from remediation_flows.core.due_diligence.risk import (
    RiskLevel,
    SiteQuestionnaire,
    check_questionnaire,
    score_site,
)
from remediation_flows.core.errors import IllegalTransition, InvalidInput, NotFound
from remediation_flows.core.mail.i18n import step_title, text
from remediation_flows.core.mail.render import format_instant
from remediation_flows.core.notices import enqueue_task_mail
from remediation_flows.core.safeguarding.free_text import screen_site_texts
from remediation_flows.core.statuses import ApprovalStatus
from remediation_flows.core.store import repository as repo
from remediation_flows.core.store.repository import CaseStore
from remediation_flows.core.store.schema import (
    Case,
    DueDiligenceCycle,
    DueDiligenceRecord,
    Milestone,
    SiteRiskAssessment,
    utcnow,
)

STEPS = ("risk_assessment", "policies_and_procedures", "training", "monitoring", "communication")
DONE = "done"


@dataclass(frozen=True)
class PolicyReview:
    prevention_policy: bool
    on_site_intervention_procedure: bool
    remediation_policy: bool
    document_reference: str


@dataclass(frozen=True)
class MonitoringVisit:
    site_id: str
    visited_on: dt.date
    child_found: bool
    children_found: int = 0
    findings: str | None = None


@dataclass
class CycleView:
    """Where a cycle stands; by site and role only, safe to show in Prefect."""

    cycle_id: int
    enterprise_id: str
    year: int
    step: str
    sites: list[str]
    risk_levels: dict[str, str] = field(default_factory=dict)
    monitoring_sites: list[str] = field(default_factory=list)
    visited_sites: list[str] = field(default_factory=list)
    pending_approvals: list[str] = field(default_factory=list)
    #: A role refused the current policies or report: a new review is needed.
    refused: bool = False
    reviews: int = 0
    training_planned: int | None = None
    training_attended: int | None = None
    due_local: str | None = None
    cases_opened: list[str] = field(default_factory=list)

    @property
    def reference(self) -> str:
        return cycle_reference(self.enterprise_id, self.year)

    @property
    def is_finished(self) -> bool:
        return self.step == DONE


def cycle_reference(enterprise_id: str, year: int) -> str:
    return f"DD-{enterprise_id}-{year}"


def _key(cycle: DueDiligenceCycle, step: str) -> str:
    return f"{cycle_reference(cycle.enterprise_id, cycle.year)}/{step}"


def _records(session: Session, cycle: DueDiligenceCycle, kind: str) -> list[DueDiligenceRecord]:
    return list(
        session.scalars(
            select(DueDiligenceRecord)
            .where(DueDiligenceRecord.cycle_id == cycle.id, DueDiligenceRecord.kind == kind)
            .order_by(DueDiligenceRecord.id)
        )
    )


def _assessments(session: Session, cycle: DueDiligenceCycle) -> list[SiteRiskAssessment]:
    return list(
        session.scalars(
            select(SiteRiskAssessment)
            .where(SiteRiskAssessment.cycle_id == cycle.id)
            .order_by(SiteRiskAssessment.id)
        )
    )


def monitoring_sites(assessments: list[SiteRiskAssessment]) -> list[str]:
    """The sites to visit: every high-risk site, or the riskiest one when none is high."""
    high = [a.site_id for a in assessments if a.level == RiskLevel.HIGH]
    if high or not assessments:
        return high
    return [max(assessments, key=lambda a: a.score).site_id]


def _step_milestone(session: Session, cycle: DueDiligenceCycle) -> Milestone:
    """The open milestone of the cycle's current step, which approvals hang from; every step opens one."""
    milestone = open_milestone(session, cycle)
    if milestone is None:
        raise NotFound(
            f"cycle {cycle_reference(cycle.enterprise_id, cycle.year)}: no open {cycle.step} milestone"
        )
    return milestone


def _subject(cycle: DueDiligenceCycle, session: Session) -> str:
    if cycle.step == "policies_and_procedures":
        return f"policies {len(_records(session, cycle, 'policy_review'))}"
    return cycle.step


def _view(session: Session, cycle: DueDiligenceCycle) -> CycleView:
    programme = repo.programme_version(session, cycle.config_sha256)
    assessments = _assessments(session, cycle)
    milestone = open_milestone(session, cycle)
    approvals = approvals_on(session, milestone, _subject(cycle, session))
    plan = _records(session, cycle, "training_plan")
    attendance = _records(session, cycle, "training_attendance")
    visits = _records(session, cycle, "monitoring_visit")
    first_site = next(iter(programme.sites.values()))
    cases = session.scalars(
        select(Case.reference).where(Case.due_diligence_cycle_id == cycle.id).order_by(Case.id)
    ).all()
    return CycleView(
        cycle_id=cycle.id,
        enterprise_id=cycle.enterprise_id,
        year=cycle.year,
        step=cycle.step,
        sites=list(programme.sites),
        risk_levels={a.site_id: a.level for a in assessments},
        monitoring_sites=monitoring_sites(assessments),
        visited_sites=[v.site_id for v in visits if v.site_id],
        pending_approvals=[a.role for a in approvals if a.status == ApprovalStatus.REQUESTED],
        refused=any(a.status == ApprovalStatus.REJECTED for a in approvals),
        reviews=len(_records(session, cycle, "policy_review")),
        training_planned=plan[-1].data["planned_participants"] if plan else None,
        training_attended=attendance[-1].data["attended"] if attendance else None,
        due_local=format_instant(milestone.due_at, first_site.time_zone) if milestone else None,
        cases_opened=list(cases),
    )


def cycle_view(store: CaseStore, enterprise_id: str, year: int) -> CycleView:
    with store.reading() as session:
        return _view(session, find_cycle(session, enterprise_id, year))


def _legal_report_due(programme: Programme, year: int) -> dt.datetime | None:
    """The annual report's legal deadline: the end of the month N months after the financial year ends."""
    if not programme.financial_year_end:
        return None
    month = (
        int(programme.financial_year_end.split("-")[0])
        + programme.due_diligence.report_due_months_after_year_end
    )
    due_year, due_month = year + (month - 1) // 12, (month - 1) % 12 + 1
    last_day = calendar.monthrange(due_year, due_month)[1]
    zone = SiteCalendar(next(iter(programme.sites.values()))).zone
    return dt.datetime.combine(dt.date(due_year, due_month, last_day), dt.time(23, 59, 59), tzinfo=zone)


def last_completed_steps(session: Session, enterprise_id: str) -> dict[str, dt.date]:
    """The day each step of the enterprise's yearly cycles was last completed (ad-hoc ones aside)."""
    rows = session.execute(
        select(Milestone.kind, func.max(Milestone.completed_at))
        .where(
            Milestone.enterprise_id == enterprise_id,
            Milestone.cycle_id.is_not(None),
            Milestone.completed_at.is_not(None),
        )
        .group_by(Milestone.kind)
    ).all()
    return {kind: completed.date() for kind, completed in rows if completed is not None}


def legal_due_dates(store: CaseStore, programme: Programme, today: dt.date | None = None) -> list[DueDate]:
    """When the programme's clocks and each legal regime it names are next due, from the store."""
    with store.reading() as session:
        last = last_completed_steps(session, programme.enterprise_id)
    return next_due_dates(programme, last, today or utcnow().date())


#: Cycle steps that have a clock of their own, restarted each time the step is completed.
CLOCKED_STEPS = {
    "risk_assessment": lambda programme: programme.due_diligence.risk_assessment_every_months,
    "policies_and_procedures": lambda programme: programme.due_diligence.policy_review_every_months,
}


def _clock_due(session: Session, programme: Programme, step: str) -> dt.datetime | None:
    """The step's clock: so many months after it was last completed; ``None`` when unclocked or never done."""
    months_of = CLOCKED_STEPS.get(step)
    last = last_completed_steps(session, programme.enterprise_id).get(step)
    if months_of is None or last is None:
        return None
    zone = SiteCalendar(next(iter(programme.sites.values()))).zone
    return dt.datetime.combine(add_months(last, months_of(programme)), dt.time(23, 59, 59), tzinfo=zone)


def _schedule(
    session: Session, programme: Programme, cycle: DueDiligenceCycle, step: str, actor: str
) -> Milestone:
    site_id = next(iter(programme.sites))
    due_at = repo.reckon_step(programme, site_id, step, utcnow()).due_at
    clock = _clock_due(session, programme, step)
    if clock is not None and utcnow() < clock < due_at:
        # The step's own clock runs out before the step's deadline would: the clock wins.
        due_at = clock
    if step == "communication":
        legal = _legal_report_due(programme, cycle.year)
        if legal is not None:
            due_at = min(due_at, legal) if legal > utcnow() else due_at
    milestone, _ = repo.add_milestone(
        session,
        programme,
        key=_key(cycle, step),
        site_id=site_id,
        step=step,
        title=f"{step_title('en', step)} {cycle.year}",
        due_at=due_at,
        actor=actor,
        cycle_id=cycle.id,
    )
    enqueue_task_mail(
        session,
        programme,
        milestone,
        [programme.step(step).owner],
        # Not a task to answer here: each question's own email carries the link that answers it.
        text("instr.due_diligence_opened", year=cycle.year),
        reference=cycle_reference(cycle.enterprise_id, cycle.year),
        contact_role=Role.PROGRAM_MANAGER,
    )
    return milestone


def _advance(
    session: Session, programme: Programme, cycle: DueDiligenceCycle, actor: str, reason: str
) -> None:
    milestone = open_milestone(session, cycle)
    if milestone is not None:
        repo.complete_milestone(session, milestone, actor=actor, reason=reason)
        repo.void_task_links(
            session, actor=actor, reason="the step is complete", cycle_id=cycle.id, milestone_id=milestone.id
        )
    following = STEPS[STEPS.index(cycle.step) + 1] if cycle.step != STEPS[-1] else DONE
    repo.record_audit(
        session,
        actor=actor,
        action="due_diligence_step_done",
        entity="cycle",
        entity_id=cycle_reference(cycle.enterprise_id, cycle.year),
        reason=reason,
        details={"step": cycle.step, "next": following},
    )
    cycle.step = following
    if following == DONE:
        cycle.completed_at = utcnow()
        return
    _schedule(session, programme, cycle, following, actor)


@dataclass(frozen=True)
class CycleAct:
    """One act on a cycle: its name in words and the steps it may be done in."""

    name: str
    steps: tuple[str, ...]

    def check(self, cycle: DueDiligenceCycle) -> None:
        """Raise :class:`IllegalTransition` unless the cycle is in one of the act's steps."""
        if cycle.step not in self.steps:
            where = "complete" if cycle.step == DONE else f"in {cycle.step.replace('_', ' ')}"
            raise IllegalTransition(
                cycle_reference(cycle.enterprise_id, cycle.year),
                cycle.step,
                self.name,
                reason=f"cannot {self.name} while the cycle is {where}",
            )


RECORD_SITE_RISK = CycleAct("record a site's risk assessment", ("risk_assessment",))
RECORD_POLICY_REVIEW = CycleAct("record a policy review", ("policies_and_procedures",))
DECIDE = CycleAct("decide on the policies or the annual report", ("policies_and_procedures", "communication"))
PLAN_TRAINING = CycleAct("plan the training", ("training",))
RECORD_TRAINING = CycleAct("record the training attendance", ("training",))
RECORD_MONITORING_VISIT = CycleAct("record a monitoring visit", ("monitoring",))


def start_cycle(store: CaseStore, programme: Programme, year: int, actor: str) -> CycleView:
    """Open the year's cycle (once) with its risk-assessment milestone."""
    with store.transaction() as session:
        repo.register_programme(session, programme, actor=actor)
        existing = session.scalars(
            select(DueDiligenceCycle).where(
                DueDiligenceCycle.enterprise_id == programme.enterprise_id, DueDiligenceCycle.year == year
            )
        ).one_or_none()
        if existing is not None:
            return _view(session, existing)
        cycle = DueDiligenceCycle(
            enterprise_id=programme.enterprise_id,
            year=year,
            step=STEPS[0],
            config_sha256=programme.fingerprint,
        )
        session.add(cycle)
        session.flush()
        repo.record_audit(
            session,
            actor=actor,
            action="due_diligence_cycle_started",
            entity="cycle",
            entity_id=cycle_reference(cycle.enterprise_id, year),
        )
        _schedule(session, programme, cycle, STEPS[0], actor)
        return _view(session, cycle)


def record_site_risk(
    store: CaseStore, enterprise_id: str, year: int, site_id: str, answers: SiteQuestionnaire, actor: str
) -> CycleView:
    """A site's questionnaire, scored; when every site is assessed the cycle moves to policies."""
    check_questionnaire(answers)
    with store.transaction() as session:
        cycle = find_cycle(session, enterprise_id, year, lock=True)
        RECORD_SITE_RISK.check(cycle)
        programme = repo.programme_version(session, cycle.config_sha256)
        site = programme.site(site_id)
        if any(a.site_id == site_id for a in _assessments(session, cycle)):
            raise InvalidInput(
                f"site {site_id} is already assessed in {cycle_reference(enterprise_id, year)}"
            )
        risk = score_site(site.country, site.kind, answers)
        session.add(
            SiteRiskAssessment(
                cycle_id=cycle.id,
                site_id=site_id,
                answers={k: str(v) for k, v in vars(answers).items()},
                score=risk.score,
                level=risk.level,
                reasons=risk.reasons,
                assessed_by=actor,
            )
        )
        session.flush()
        repo.record_audit(
            session,
            actor=actor,
            action="site_risk_assessed",
            entity="cycle",
            entity_id=cycle_reference(enterprise_id, year),
            details={"site": site_id, "score": risk.score, "level": risk.level},
        )
        void_question_links(session, cycle.id, f"risk-{site_id}", actor=actor)
        if {a.site_id for a in _assessments(session, cycle)} >= set(programme.sites):
            _advance(session, programme, cycle, actor, "every site assessed")
        return _view(session, cycle)


def record_policy_review(
    store: CaseStore, enterprise_id: str, year: int, review: PolicyReview, actor: str
) -> CycleView:
    """The policies drafted or reviewed; each configured role is asked to approve them."""
    if not (review.prevention_policy and review.on_site_intervention_procedure and review.remediation_policy):
        raise InvalidInput("all three documents are needed: prevention, on-site intervention and remediation")
    if not review.document_reference.strip():
        raise InvalidInput("document_reference is required")
    with store.transaction() as session:
        cycle = find_cycle(session, enterprise_id, year, lock=True)
        RECORD_POLICY_REVIEW.check(cycle)
        screen_site_texts(session, enterprise_id, None, document_reference=review.document_reference)
        programme = repo.programme_version(session, cycle.config_sha256)
        session.add(
            DueDiligenceRecord(
                cycle_id=cycle.id,
                step=cycle.step,
                kind="policy_review",
                data=dict(vars(review)),
                recorded_by=actor,
            )
        )
        session.flush()
        reviews = len(_records(session, cycle, "policy_review"))
        void_question_links(session, cycle.id, f"policies-{reviews}", actor=actor)
        roles = programme.step("policies_and_procedures").approval
        if not roles:
            _advance(session, programme, cycle, actor, "policies reviewed")
        else:
            repo.request_approvals(
                session, _step_milestone(session, cycle), roles, actor=actor, subject=_subject(cycle, session)
            )
        return _view(session, cycle)


def decide(
    store: CaseStore,
    enterprise_id: str,
    year: int,
    role: Role | str,
    approved: bool,
    decider: Decider,
    comment: str | None = None,
) -> CycleView:
    """A role's decision on the current step (policies or the annual report).

    The decider must hold ``role`` in the enterprise's current programme, and the step's approval
    policy decides whether staff may record it for them, as for a case's approvals.
    """
    with store.transaction() as session:
        cycle = find_cycle(session, enterprise_id, year, lock=True)
        DECIDE.check(cycle)
        screen_site_texts(
            session, enterprise_id, None, comment=comment, on_behalf_reason=decider.on_behalf_reason
        )
        programme = repo.programme_version(session, cycle.config_sha256)
        milestone = _step_milestone(session, cycle)
        subject = _subject(cycle, session)
        record_decision(
            session,
            repo.current_programme(session, enterprise_id),
            milestone,
            subject,
            role,
            approved=approved,
            decider=decider,
            comment=comment,
        )
        decided = (
            len(_records(session, cycle, "policy_review")) if cycle.step == "policies_and_procedures" else 0
        )
        question = decision_question(cycle.step, decided)
        void_question_links(session, cycle.id, question, actor=decider.actor, role=str(role))
        if approved and all_approved(session, milestone, subject):
            _advance(session, programme, cycle, decider.actor, f"{cycle.step} approved")
        return _view(session, cycle)


def plan_training(
    store: CaseStore, enterprise_id: str, year: int, sessions: int, planned_participants: int, actor: str
) -> CycleView:
    if sessions < 1 or planned_participants < 1:
        raise InvalidInput("a training plan needs at least one session and one participant")
    with store.transaction() as session:
        cycle = find_cycle(session, enterprise_id, year, lock=True)
        PLAN_TRAINING.check(cycle)
        if _records(session, cycle, "training_plan"):
            raise InvalidInput("the training plan is already recorded")
        high_risk = [a.site_id for a in _assessments(session, cycle) if a.level == RiskLevel.HIGH]
        session.add(
            DueDiligenceRecord(
                cycle_id=cycle.id,
                step="training",
                kind="training_plan",
                recorded_by=actor,
                data={
                    "sessions": sessions,
                    "planned_participants": planned_participants,
                    "high_risk_sites_first": high_risk,
                },
            )
        )
        session.flush()
        void_question_links(session, cycle.id, "training-plan", actor=actor)
        return _view(session, cycle)


def record_training(store: CaseStore, enterprise_id: str, year: int, attended: int, actor: str) -> CycleView:
    """Attendance against the plan; the coverage goes in the annual report."""
    with store.transaction() as session:
        cycle = find_cycle(session, enterprise_id, year, lock=True)
        RECORD_TRAINING.check(cycle)
        plan = _records(session, cycle, "training_plan")
        if not plan:
            raise InvalidInput("record the training plan before the attendance")
        if attended < 0:
            raise InvalidInput("attended must not be negative")
        planned = plan[-1].data["planned_participants"]
        session.add(
            DueDiligenceRecord(
                cycle_id=cycle.id,
                step="training",
                kind="training_attendance",
                recorded_by=actor,
                data={"attended": attended, "coverage_percent": round(100 * attended / planned, 1)},
            )
        )
        programme = repo.programme_version(session, cycle.config_sha256)
        void_question_links(session, cycle.id, "training-attendance", actor=actor)
        _advance(session, programme, cycle, actor, f"training held: {attended} of {planned} attended")
        return _view(session, cycle)


def record_monitoring_visit(
    store: CaseStore, enterprise_id: str, year: int, visit: MonitoringVisit, actor: str
) -> CycleView:
    """A monitoring visit; a child found at work opens remediation cases linked to this cycle."""
    if visit.child_found and visit.children_found < 1:
        raise InvalidInput("children_found must be at least 1 when a child was found")
    with store.transaction() as session:
        cycle = find_cycle(session, enterprise_id, year, lock=True)
        RECORD_MONITORING_VISIT.check(cycle)
        screen_site_texts(session, enterprise_id, visit.site_id, findings=visit.findings)
        programme = repo.programme_version(session, cycle.config_sha256)
        planned = monitoring_sites(_assessments(session, cycle))
        if visit.site_id not in planned:
            raise InvalidInput(
                f"site {visit.site_id} is not planned for monitoring (planned: {', '.join(planned)})"
            )
        visited = {r.site_id for r in _records(session, cycle, "monitoring_visit")}
        if visit.site_id in visited:
            raise InvalidInput(f"site {visit.site_id} was already visited in this cycle")
        record = DueDiligenceRecord(
            cycle_id=cycle.id,
            step="monitoring",
            kind="monitoring_visit",
            site_id=visit.site_id,
            recorded_by=actor,
            data={
                "visited_on": visit.visited_on.isoformat(),
                "child_found": visit.child_found,
                "children_found": visit.children_found,
                "findings": visit.findings,
            },
        )
        session.add(record)
        void_question_links(session, cycle.id, f"visit-{visit.site_id}", actor=actor)
        # The cases open in the same transaction as the visit that found the children.
        for _ in range(visit.children_found if visit.child_found else 0):
            cw.open_case_in(
                session,
                programme,
                cw.Notification(
                    enterprise_id=enterprise_id,
                    site_id=visit.site_id,
                    notified_at=dt.datetime.now(dt.UTC),
                    source=cw.Source.AUDIT,
                ),
                actor=actor,
                due_diligence_cycle_id=cycle.id,
            )
        if visited | {visit.site_id} >= set(planned):
            _advance(session, programme, cycle, actor, "every planned site visited")
            roles = programme.step("communication").approval
            if roles:
                repo.request_approvals(
                    session, _step_milestone(session, cycle), roles, actor=actor, subject="communication"
                )
            else:
                _advance(session, programme, cycle, actor, "the annual report needs no approval")
        return _view(session, cycle)
