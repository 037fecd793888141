"""The questions the due-diligence cycle asks, each declared once, as the case lifecycle's are.

A question names the cycle step it is asked in, when in that step (``when``), the key it is asked
under, whom it asks (in words and by role), the form, the words of the prompt and the core act that
applies the answer. The cycle's map from step to question is derived from these declarations.
Keys and words are filled from the cycle's view: ``{reference}``, ``{site}`` (the site the step
is at), ``{risk}``, ``{pending}`` and the others of :func:`_filled`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from prefect.input import RunInput

from remediation_flows.core.approvals import Decider
from remediation_flows.core.cycle_links import issue_question_links
from remediation_flows.core.due_diligence import cycle as dd
from remediation_flows.core.due_diligence.risk import SiteQuestionnaire
from remediation_flows.core.store import CaseStore
from remediation_flows.core.task_links import VerifiedAnswer, verified_answer
from remediation_flows.flows.due_diligence.answers import (
    MonitoringVisitAnswer,
    PolicyReviewAnswer,
    SiteRiskAnswer,
    TrainingAttendanceAnswer,
    TrainingPlanAnswer,
)
from remediation_flows.flows.due_diligence.communication import publish_report
from remediation_flows.flows.prompts import apply, ask, input_key
from remediation_flows.flows.remediation.answers import ApprovalAnswer
from remediation_flows.flows.remediation.artifacts import role_names
from remediation_flows.flows.remediation.runs import start_lifecycle
from remediation_flows.flows.wait_labels import label_this_wait, wait_name, wait_tags

#: ``act(store, view, filled, fields, actor)``: the core act, with the answer's fields but its author.
Act = Callable[[CaseStore, dd.CycleView, dict[str, Any], dict[str, Any], str], object]
Hook = Callable[[CaseStore, dd.CycleView], Awaitable[object]]


@dataclass(frozen=True)
class CycleQuestion:
    """One question of the cycle."""

    step: str
    #: The prompt key after the cycle reference; a new key asks a new question.
    key: str
    asked_of: str
    #: The roles that must act, for the waiting run's name and tags.
    roles: Callable[[dd.CycleView], list[str]]
    form: type[RunInput]
    words: str
    act: Act
    subject: str = "Cycle {reference}"
    #: Whether the cycle, in ``step``, waits for this question (a step may ask one of several).
    when: Callable[[dd.CycleView], bool] = lambda view: True
    #: Done before asking (the annual report is published before it is approved).
    before: Hook | None = None
    #: Done after the answer is applied (a monitoring finding starts its cases' lifecycles).
    after: Callable[[CaseStore, dd.CycleView, dd.CycleView], Awaitable[None]] | None = None
    #: The question a personal task link answers, when it differs from ``key``: an approval's key
    #: counts the roles still pending, but each approver's link stays the same until they decide.
    #: The core voids a question's links by this name when it is answered by another route.
    link_key: str | None = None
    #: The file the task page takes with the answer (e.g. the attendance sheet); "" for none.
    evidence: str = ""

    @property
    def is_approval(self) -> bool:
        """Whether the question asks a role's decision (the link binds the role)."""
        return self.form is ApprovalAnswer

    def link_question(self, view: dd.CycleView) -> str:
        """The question's name in its task links' addresses, filled from the cycle's view."""
        return (self.link_key or self.key).format(**filled_for(view), step=view.step)


def _site(view: dd.CycleView) -> str:
    """The site the step is at: the next to assess, or the next high-risk site to visit."""
    if view.step == "risk_assessment":
        return next(site for site in view.sites if site not in view.risk_levels)
    if view.step == "monitoring":
        return next(site for site in view.monitoring_sites if site not in view.visited_sites)
    return ""


def filled_for(view: dd.CycleView) -> dict[str, Any]:
    """What a question's key, subject and words may name about the cycle."""
    site = _site(view)
    high = [s for s, level in view.risk_levels.items() if level == "high"]
    return {
        "reference": view.reference,
        "enterprise_id": view.enterprise_id,
        "year": view.year,
        "site": site,
        "risk": view.risk_levels.get(site),
        "high_first": f" (high-risk sites first: {', '.join(high)})" if high else "",
        "planned": view.training_planned,
        "pending": role_names(view.pending_approvals),
        "pending_count": len(view.pending_approvals),
        "reviews": view.reviews,
        "next_review": view.reviews + 1,
        # The decisions on the policies are counted per review; on the report, once.
        "decided": view.reviews if view.step == "policies_and_procedures" else 0,
    }


async def _start_opened_cases(store: CaseStore, before: dd.CycleView, after: dd.CycleView) -> None:
    """Start the lifecycle of every case a monitoring visit opened."""
    for reference in after.cases_opened:
        if reference not in before.cases_opened:
            await start_lifecycle(reference, 1)


def _decide(
    store: CaseStore, view: dd.CycleView, filled: dict[str, Any], fields: dict[str, Any], actor: str
) -> object:
    """Staff's answer in the Prefect UI: unverified, by the name they typed, for themselves or for the
    approver they name; the core refuses a role the person does not hold."""
    decider = Decider(
        person=fields.get("on_behalf_of") or actor,
        verified=False,
        entered_by=actor,
        channel="the Prefect UI",
        on_behalf_reason=fields.get("on_behalf_reason"),
    )
    role, approved, comment = fields["role"], fields["approved"], fields.get("comment")
    return dd.decide(store, view.enterprise_id, view.year, role, approved, decider, comment)


def _pending(view: dd.CycleView) -> list[str]:
    return list(view.pending_approvals)


APPROVAL_LINK_KEY = "{step}-{decided}-decision"  # as cycle_links.decision_question
APPROVAL_KEY = APPROVAL_LINK_KEY + "-{pending_count}"

QUESTIONS: tuple[CycleQuestion, ...] = (
    CycleQuestion(
        step="risk_assessment",
        key="risk-{site}",
        subject="Cycle {reference}, site {site}",
        asked_of="the enterprise focal point",
        roles=lambda view: ["enterprise_focal_point"],
        form=SiteRiskAnswer,
        words="Risk assessment of site {site}: workforce, hiring practice and past findings",
        act=lambda store, view, filled, fields, actor: dd.record_site_risk(
            store, view.enterprise_id, view.year, filled["site"], SiteQuestionnaire(**fields), actor
        ),
    ),
    CycleQuestion(
        step="policies_and_procedures",
        key=APPROVAL_KEY,
        asked_of="{pending}",
        roles=_pending,
        form=ApprovalAnswer,
        words="Approve the policies (review {reviews})? (awaiting: {pending})",
        act=_decide,
        link_key=APPROVAL_LINK_KEY,
        when=lambda view: bool(view.reviews and view.pending_approvals and not view.refused),
    ),
    CycleQuestion(
        step="policies_and_procedures",
        key="policies-{next_review}",
        asked_of="the enterprise leadership, with the program manager",
        roles=lambda view: ["enterprise_leadership", "program_manager"],
        form=PolicyReviewAnswer,
        words="Policies and procedures: prevention, on-site intervention and remediation",
        act=lambda store, view, filled, fields, actor: dd.record_policy_review(
            store, view.enterprise_id, view.year, dd.PolicyReview(**fields), actor
        ),
    ),
    CycleQuestion(
        step="training",
        key="training-plan",
        asked_of="the program manager",
        roles=lambda view: ["program_manager"],
        form=TrainingPlanAnswer,
        words="Training plan for key staff and suppliers{high_first}",
        act=lambda store, view, filled, fields, actor: dd.plan_training(
            store, view.enterprise_id, view.year, fields["sessions"], fields["planned_participants"], actor
        ),
        when=lambda view: view.training_planned is None,
    ),
    CycleQuestion(
        step="training",
        key="training-attendance",
        asked_of="the program manager",
        roles=lambda view: ["program_manager"],
        form=TrainingAttendanceAnswer,
        words="Training attendance ({planned} planned)",
        evidence="The attendance sheet (PDF, JPEG or PNG), if you have it",
        act=lambda store, view, filled, fields, actor: dd.record_training(
            store, view.enterprise_id, view.year, fields["attended"], actor
        ),
    ),
    CycleQuestion(
        step="monitoring",
        key="visit-{site}",
        subject="Cycle {reference}, site {site}",
        asked_of="the case manager",
        roles=lambda view: ["case_manager"],
        form=MonitoringVisitAnswer,
        words="Monitoring visit to {site} (risk: {risk})",
        act=lambda store, view, filled, fields, actor: dd.record_monitoring_visit(
            store, view.enterprise_id, view.year, dd.MonitoringVisit(site_id=filled["site"], **fields), actor
        ),
        after=_start_opened_cases,
    ),
    CycleQuestion(
        step="communication",
        key=APPROVAL_KEY,
        asked_of="{pending}",
        roles=_pending,
        form=ApprovalAnswer,
        words="Approve the annual report (artifact due-diligence-{enterprise_id}-{year})? "
        "(awaiting: {pending})",
        act=_decide,
        link_key=APPROVAL_LINK_KEY,
        before=publish_report,
    ),
)

#: The cycle's steps that ask questions, each with its questions in the order they are tried.
STEPS: dict[str, tuple[CycleQuestion, ...]] = {
    step: tuple(q for q in QUESTIONS if q.step == step) for step in dict.fromkeys(q.step for q in QUESTIONS)
}


def question_for(view: dd.CycleView) -> CycleQuestion:
    """The question the cycle waits on in its step."""
    return next(q for q in STEPS[view.step] if q.when(view))


def prompt_of(view: dd.CycleView, question: CycleQuestion) -> str:
    """The prompt key the cycle asks ``question`` under (before the count of refused answers)."""
    filled = filled_for(view) | {"step": view.step}
    return f"{view.reference}-{question.key.format(**filled)}"


def decide_by_link(
    store: CaseStore, view: dd.CycleView, fields: dict[str, Any], link: VerifiedAnswer
) -> object:
    """An approver's own answer through their task link: verified, in the role the link was issued for."""
    decider = Decider(person=link.recipient, verified=True)
    return dd.decide(
        store, view.enterprise_id, view.year, link.role, fields["approved"], decider, fields.get("comment")
    )


async def ask_and_apply(store: CaseStore, view: dd.CycleView, question: CycleQuestion) -> None:
    """Ask ``question`` about the cycle and apply the answer through the core (a refusal is audited).

    Each person of the question's roles is first sent a personal task link (once: asking again after
    the run resumes sends nothing new); an answer given through a link is applied as that person's,
    verified, exactly as the same answer typed in the Resume dialog would be.
    """
    if question.before is not None:
        await question.before(store, view)
    filled = filled_for(view) | {"step": view.step}
    prompt = prompt_of(view, question)
    roles = question.roles(view)
    key = input_key(store, prompt)
    issue_question_links(
        store,
        view.reference,
        question=question.link_question(view),
        roles=roles,
        site_id=filled["site"] or None,
        answering_key=key,
    )
    await label_this_wait(
        wait_name(view.reference, view.step, view.due_local, roles),
        wait_tags(view.enterprise_id, filled["site"] or None, roles, None, dt.datetime.now(dt.UTC)),
    )
    answer = await ask(
        store,
        question.subject.format(**filled),
        prompt,
        question.form,
        question=question.words.format(**filled),
        asked_of=question.asked_of.format(**filled),
        due=view.due_local,
    )
    link = verified_answer(store, key)
    if link is not None and link.answer != answer.model_dump(mode="json"):
        link = None  # someone answered this suspension in the UI instead: not the link's answer
    fields = answer.model_dump(exclude={"answered_by"})
    actor = link.recipient if link else answer.answered_by  # type: ignore[attr-defined]  # every form has it
    if link is not None and question.is_approval:
        verified = link

        def act() -> object:
            return decide_by_link(store, view, fields, verified)
    else:

        def act() -> object:
            return question.act(store, view, filled, fields, actor)

    applied = await apply(store, view.reference, prompt, answer, act, actor=actor)
    if applied and question.after is not None:
        await question.after(store, view, dd.cycle_view(store, view.enterprise_id, view.year))
