"""The lifecycle's questions, declared once: stage map, prompt keys and extendable steps derive from them."""

from __future__ import annotations

import dataclasses
import datetime as dt
import inspect
from decimal import Decimal

import pytest

from remediation_flows.core import casework as cw
from remediation_flows.core.approvals import Decider
from remediation_flows.core.case_states import CaseState
from remediation_flows.core.task_links import VerifiedAnswer
from remediation_flows.flows.remediation.acts import ExtendableStep
from remediation_flows.flows.remediation.answers import (
    IDENTITY_FIELDS,
    ApprovalAnswer,
    PlanProposalAnswer,
    SchoolReintegrationAnswer,
    YoungWorkerProtectionAnswer,
)
from remediation_flows.flows.remediation.stages import (
    EXTENDABLE_STEPS,
    QUESTIONS,
    STAGES,
    prompt_key,
    question_for,
    to_report,
)


def view(state: CaseState, **changes) -> cw.CaseView:
    base = cw.CaseView(
        reference="CL-2026-000123",
        enterprise_id="campos-pacifico",
        site_id="sinaloa-culiacan",
        site_name="Culiacán",
        state=state,
        round=2,
        outcome="child_labourer",
        case_manager="lucia@centro-mx.example",
        open_milestones=[],
    )
    return dataclasses.replace(base, **changes)


def test_the_stage_map_covers_the_states_it_covered_by_hand():
    assert set(STAGES) == {
        CaseState.ON_SITE_ASSESSMENT,
        CaseState.REMEDIATION_PLAN,
        CaseState.SCHOOL_REINTEGRATION,
        CaseState.YOUNG_WORKER_PROTECTION,
        CaseState.MONITORING,
    }


def test_the_extendable_steps_are_the_steps_listed_by_hand_before():
    before = [
        "on_site_assessment",
        "remediation_plan",
        "school_reintegration",
        "young_worker_protection",
        "follow_up_visit",
        "closure",
    ]
    assert list(EXTENDABLE_STEPS) == before
    assert [str(step) for step in ExtendableStep] == before
    assert ExtendableStep("closure") == "closure"


@pytest.mark.parametrize(
    ("state", "changes", "key", "form"),
    [
        (CaseState.ON_SITE_ASSESSMENT, {}, "CL-2026-000123-r2-assessment", "OnSiteAssessmentAnswer"),
        (CaseState.REMEDIATION_PLAN, {"plans_proposed": 1}, "CL-2026-000123-r2-plan-2", "PlanProposalAnswer"),
        (
            CaseState.REMEDIATION_PLAN,
            {"plan_status": "proposed", "plan_id": 7, "decisions_made": 1},
            "CL-2026-000123-r2-plan-7-decision-2",
            "ApprovalAnswer",
        ),
        (CaseState.SCHOOL_REINTEGRATION, {}, "CL-2026-000123-r2-reintegration", "SchoolReintegrationAnswer"),
        (
            CaseState.YOUNG_WORKER_PROTECTION,
            {},
            "CL-2026-000123-r2-reintegration",
            "YoungWorkerProtectionAnswer",
        ),
        (CaseState.MONITORING, {"visits_done": 2}, "CL-2026-000123-r2-visit-3", "FollowUpVisitAnswer"),
        (
            CaseState.MONITORING,
            {"visits_done": 4, "closure_pending": ["program_manager"]},
            "CL-2026-000123-r2-closure-after-visit-4",
            "ApprovalAnswer",
        ),
    ],
)
def test_each_state_asks_one_question_under_the_key_it_used_before(state, changes, key, form):
    case = view(state, **changes)
    question = question_for(case)
    assert question is not None and question.state == state
    assert question.form.__name__ == form
    assert prompt_key(case, question) == key


def test_no_question_is_asked_of_a_finished_case():
    assert question_for(view(CaseState.CLOSED)) is None


def test_every_answer_field_reaches_the_act():
    for question in QUESTIONS:
        # Who answered, and for whom, reach an approval as its decider; a report's actor is its giver.
        given = set(question.form.model_fields) - IDENTITY_FIELDS
        if question.report is None:
            takes = set(inspect.signature(question.act).parameters)
            assert {"role", "decider"} <= takes, question.key
        else:
            takes = {f.name for f in dataclasses.fields(question.report)}
        assert given <= takes, (question.key, given - takes)


def test_an_answer_becomes_the_core_report_by_field_name():
    proposal = PlanProposalAnswer(
        answered_by="lucia", pathway="schooling", monthly_stipend=1500.1, currency="MXN", school_fees=300
    )
    assert to_report(cw.PlanProposal, proposal.model_dump()) == cw.PlanProposal(
        pathway=cw.Pathway.SCHOOLING,
        monthly_stipend=Decimal("1500.1"),
        currency="MXN",
        school_fees=Decimal("300"),
        payer=cw.Payer.SUPPLIER,
    )
    day = dt.date(2026, 3, 2)
    young = YoungWorkerProtectionAnswer(
        answered_by="lucia",
        effective_on=day,
        hazardous_tasks_removed=True,
        hours_reduced=True,
        night_shifts_stopped=False,
    )
    assert to_report(cw.ReintegrationReport, young.model_dump()) == cw.ReintegrationReport(
        effective_on=day, hazardous_tasks_removed=True, hours_reduced=True, night_shifts_stopped=False
    )
    school = SchoolReintegrationAnswer(answered_by="lucia", effective_on=day, evidence_reference="ENR-1")
    assert to_report(cw.ReintegrationReport, school.model_dump()) == cw.ReintegrationReport(
        effective_on=day, evidence_reference="ENR-1"
    )


def test_an_approval_answer_becomes_the_acts_keyword_arguments():
    calls = []

    def decide(store, reference, role, approved, actor, comment=None, *, decider):
        calls.append((store, reference, role, approved, actor, comment, decider))
        return "view"

    question = next(q for q in QUESTIONS if q.form is ApprovalAnswer and q.step == "closure")
    question = dataclasses.replace(question, act=decide)
    answer = ApprovalAnswer(
        answered_by="pm", role="program_manager", approved=False, comment="one more visit"
    )
    assert question.apply("store", "CL-2026-000123", answer) == "view"
    typed_in_the_ui = Decider(person="pm", verified=False, entered_by="pm", channel="the Prefect UI")
    assert calls == [
        (
            "store",
            "CL-2026-000123",
            "program_manager",
            False,
            "entered in the Prefect UI by pm",
            "one more visit",
            typed_in_the_ui,
        )
    ]
    # Through a task link the role is the link's and the person is its recipient, whatever the form says.
    link = VerifiedAnswer(link_id=1, recipient="li.wen@ngo.example", role="supervisor", answer={})
    question.apply("store", "CL-2026-000123", answer, link)
    assert calls[-1][2] == "supervisor" and calls[-1][4] == "li.wen@ngo.example"
    assert calls[-1][6] == Decider(person="li.wen@ngo.example", verified=True)
