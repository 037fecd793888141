"""The questions the case lifecycle asks, each declared once.

A question names the case state it is asked in, the milestone step it is due
under, who is asked, the form they fill in, the core act that applies the
answer and the words of the prompt. The lifecycle's map from state to stage,
the prompts and the steps a deadline can be extended for are derived from these
declarations.

An answer reaches the core by its field names: a form's fields (but
``answered_by``, the actor) become the act's report dataclass, or, for an act
without a report, the act's keyword arguments.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, get_type_hints

from prefect.input import RunInput

from remediation_flows.core import casework as cw
from remediation_flows.core.approvals import Decider
from remediation_flows.core.case_states import CaseState
from remediation_flows.core.statuses import PlanStatus
from remediation_flows.core.store import CaseStore
from remediation_flows.core.task_links import VerifiedAnswer, verified_answer
from remediation_flows.flows.prompts import (
    applied_by_link,
    apply,
    ask,
    case_subject,
    forget_answer,
    input_key,
    refuse_crossed_answer,
    same_answer,
)
from remediation_flows.flows.remediation.answers import (
    IDENTITY_FIELDS,
    ApprovalAnswer,
    FollowUpVisitAnswer,
    OnSiteAssessmentAnswer,
    PlanProposalAnswer,
    SchoolReintegrationAnswer,
    YoungWorkerProtectionAnswer,
)
from remediation_flows.flows.remediation.artifacts import role_names
from remediation_flows.flows.wait_labels import label_this_wait, wait_name, wait_tags

CASE_MANAGER = "the case manager ({case_manager})"


@dataclass(frozen=True)
class Question:
    """One question of the lifecycle; ``key``, ``asked_of`` and ``words`` are filled from the case."""

    state: CaseState
    #: The milestone the answer is due under (and the step a deadline extension names).
    step: str
    #: The prompt key after the case reference and round; a new key asks a new question.
    key: str
    #: Who is asked, in words.
    asked_of: str
    form: type[RunInput]
    #: The core act that applies the answer: ``act(store, reference, report, actor)``, or with
    #: ``report`` None, ``act(store, reference, actor=..., **the answer's fields)``.
    act: Callable[..., cw.CaseView]
    report: type[Any] | None
    words: str
    #: Whether the case, in ``state``, waits for this question (a state may ask one of several).
    when: Callable[[cw.CaseView], bool] = lambda view: True
    #: Other milestone steps the answer may be due under.
    also_due_under: tuple[str, ...] = ()
    #: The roles that must act, for the waiting run's name and tags; default: the milestone's owner.
    waits_for: Callable[[cw.CaseView], list[str]] | None = None
    #: The evidence file the task page accepts with the answer, in words ("" when it takes none).
    evidence: str = ""

    @property
    def is_approval(self) -> bool:
        return self.report is None

    def apply(
        self, store: CaseStore, reference: str, answer: RunInput, link: VerifiedAnswer | None = None
    ) -> cw.CaseView:
        """Apply the answer through the core; ``link`` when a task link verified who gave it."""
        given = answer.model_dump(exclude=set(IDENTITY_FIELDS))
        if self.is_approval:
            decider = decider_of(answer, link)
            # A link's role is the one it was issued for; the form's role is staff's claim, checked.
            role = link.role if link is not None else answer.role  # type: ignore[attr-defined]
            return self.act(store, reference, actor=decider.actor, role=role, decider=decider, **given)
        actor = link.recipient if link is not None else answer.answered_by  # type: ignore[attr-defined]
        return self.act(store, reference, to_report(self.report, given), actor)


def decider_of(answer: RunInput, link: VerifiedAnswer | None) -> Decider:
    """Who gave an approval: the link's recipient (verified), else staff in the Prefect UI, unverified."""
    if link is not None:
        return Decider(person=link.recipient, verified=True)
    typed_by: str = answer.answered_by  # type: ignore[attr-defined]
    return Decider(
        person=getattr(answer, "on_behalf_of", None) or typed_by,
        verified=False,
        entered_by=typed_by,
        channel="the Prefect UI",
        on_behalf_reason=getattr(answer, "on_behalf_reason", None),
    )


def answer_payload(answer: RunInput) -> dict[str, Any]:
    """An answer as JSON: what a task page sends as run input and what the flow compares it with."""
    return answer.model_dump(mode="json")


def to_report(report: type[Any], given: dict[str, Any]) -> Any:
    """The core dataclass ``report`` from a form's fields of the same names; money becomes Decimal."""
    hints = get_type_hints(report)
    values = {}
    for field in dataclasses.fields(report):
        if field.name not in given:
            continue
        value = given[field.name]
        if hints[field.name] is Decimal and value is not None:
            value = Decimal(str(value))
        values[field.name] = value
    return report(**values)


def _filled(view: cw.CaseView) -> dict[str, object]:
    """What a question's key and words may name about the case."""
    return {
        "case_manager": view.case_manager or "unassigned",
        "next_plan": view.plans_proposed + 1,
        "plan_id": view.plan_id,
        "decision": view.decisions_made + 1,
        "pending": role_names(view.pending_approvals),
        "closure_pending": role_names(view.closure_pending),
        "visit": view.visits_done + 1,
        "visits_done": view.visits_done,
    }


QUESTIONS: tuple[Question, ...] = (
    Question(
        state=CaseState.ON_SITE_ASSESSMENT,
        step="on_site_assessment",
        key="assessment",
        asked_of=CASE_MANAGER,
        form=OnSiteAssessmentAnswer,
        act=cw.record_assessment,
        report=cw.AssessmentReport,
        words="On-site assessment: verify the age, remove the child from work, record consent and outcome",
    ),
    Question(
        state=CaseState.REMEDIATION_PLAN,
        step="remediation_plan",
        key="plan-{next_plan}",
        asked_of=CASE_MANAGER,
        form=PlanProposalAnswer,
        act=cw.propose_plan,
        report=cw.PlanProposal,
        words="Remediation plan: schooling or training, stipend, fees and who pays",
        when=lambda view: view.plan_status != PlanStatus.PROPOSED,
    ),
    Question(
        state=CaseState.REMEDIATION_PLAN,
        step="remediation_plan",
        key="plan-{plan_id}-decision-{decision}",
        asked_of="{pending}",
        form=ApprovalAnswer,
        act=cw.decide_plan,
        report=None,
        words="Approve remediation plan {plan_id}? (awaiting: {pending})",
        when=lambda view: view.plan_status == PlanStatus.PROPOSED,
        waits_for=lambda view: list(view.pending_approvals),
    ),
    Question(
        state=CaseState.SCHOOL_REINTEGRATION,
        step="school_reintegration",
        key="reintegration",
        asked_of="the case manager, with the enterprise focal point's evidence",
        form=SchoolReintegrationAnswer,
        act=cw.record_reintegration,
        report=cw.ReintegrationReport,
        words="School reintegration: enrolment confirmed",
        evidence="the enrolment letter",
    ),
    Question(
        state=CaseState.YOUNG_WORKER_PROTECTION,
        step="young_worker_protection",
        key="reintegration",
        asked_of="the case manager, with the enterprise focal point's confirmation",
        form=YoungWorkerProtectionAnswer,
        act=cw.record_reintegration,
        report=cw.ReintegrationReport,
        words="Young-worker protection: hazardous tasks removed, hours cut, night shifts stopped",
        # A programme without a young-worker step schedules it under the reintegration rules.
        also_due_under=("school_reintegration",),
        evidence="a signed record of the protection measures (e.g. the new job description or rota)",
    ),
    Question(
        state=CaseState.MONITORING,
        step="follow_up_visit",
        key="visit-{visit}",
        asked_of=CASE_MANAGER,
        form=FollowUpVisitAnswer,
        act=cw.record_follow_up,
        report=cw.VisitReport,
        words="Follow-up visit {visit}: school attendance, not back at work",
        when=lambda view: not view.closure_pending,
    ),
    Question(
        state=CaseState.MONITORING,
        step="closure",
        key="closure-after-visit-{visits_done}",
        asked_of="{closure_pending}",
        form=ApprovalAnswer,
        act=cw.decide_closure,
        report=None,
        words="Close the case? Monitoring is complete (awaiting: {closure_pending})",
        when=lambda view: bool(view.closure_pending),
        waits_for=lambda view: list(view.closure_pending),
    ),
)

#: The states the lifecycle asks questions in, each with its questions.
STAGES: dict[str, tuple[Question, ...]] = {
    state: tuple(q for q in QUESTIONS if q.state == state)
    for state in dict.fromkeys(q.state for q in QUESTIONS)
}

#: The steps a person answers for, in lifecycle order: the steps whose deadline can be extended.
EXTENDABLE_STEPS: tuple[str, ...] = tuple(dict.fromkeys(q.step for q in QUESTIONS))


def question_for(view: cw.CaseView) -> Question | None:
    """The question the case waits on, or None if its state asks none."""
    return next((q for q in STAGES.get(view.state, ()) if q.when(view)), None)


def waiting_roles(view: cw.CaseView, question: Question, milestone: cw.MilestoneView | None) -> list[str]:
    """The roles the question waits for: as it declares, else the milestone's owner."""
    if question.waits_for is not None:
        return question.waits_for(view)
    return [milestone.owner_role] if milestone else ["case_manager"]


def prompt_key(view: cw.CaseView, question: Question) -> str:
    """The key the question is asked under for the case: the case, its round and the question."""
    return f"{view.reference}-r{view.round}-{question.key.format(**_filled(view))}"


async def ask_and_apply(store: CaseStore, view: cw.CaseView, question: Question) -> None:
    """Ask ``question`` about the case and apply the answer through the core (a refusal is audited)."""
    filled = _filled(view)
    prompt = prompt_key(view, question)
    milestone = next(
        (m for step in (question.step, *question.also_due_under) if (m := view.milestone(step))), None
    )
    roles = waiting_roles(view, question, milestone)
    await label_this_wait(
        wait_name(view.reference, question.state, milestone.due_local if milestone else None, roles),
        wait_tags(
            view.enterprise_id,
            view.site_id,
            roles,
            milestone.due_at if milestone else None,
            dt.datetime.now(dt.UTC),
        ),
    )
    key = input_key(store, prompt)
    if applied_by_link(store, key) is not None:
        return  # the task page applied it after the case was read: the caller reads the case again
    answer = await ask(
        store,
        case_subject(view),
        prompt,
        question.form,
        question=question.words.format(**filled),
        asked_of=question.asked_of.format(**filled),
        due=milestone.due_local if milestone else None,
    )
    link = verified_answer(store, key)
    if link is not None and link.applied_at is not None:
        # Applied by the task page while this run waited: never twice; a different answer from the
        # Prefect UI crossed it and is refused.
        given = answer_payload(answer)
        if not same_answer(question.form.model_json_schema(), given, link.answer):
            refuse_crossed_answer(store, view.reference, key, given, link)
        await forget_answer(answer)
        return
    if link is not None and link.answer != answer_payload(answer):
        link = None  # someone answered this suspension in the UI instead: not the link's answer
    await apply(
        store,
        view.reference,
        prompt,
        answer,
        lambda: question.apply(store, view.reference, answer, link),
        actor=link.recipient if link else None,
    )
