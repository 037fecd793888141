"""The due-diligence cycle's questions, declared once: every step asks one, in words, of roles."""

from __future__ import annotations

import dataclasses

import pytest

from remediation_flows.core.due_diligence import cycle as dd
from remediation_flows.flows.due_diligence.questions import QUESTIONS, STEPS, filled_for, question_for

VIEW = dd.CycleView(
    cycle_id=1,
    enterprise_id="northwind-apparel",
    year=2026,
    step="risk_assessment",
    sites=["dhaka-knit-01", "hcmc-sew-02"],
    risk_levels={"dhaka-knit-01": "high"},
    monitoring_sites=["dhaka-knit-01"],
    due_local="2027-01-15 23:59 (Asia/Dhaka, UTC+06:00)",
)


def at(step: str, **changes: object) -> dd.CycleView:
    return dataclasses.replace(VIEW, step=step, **changes)


def test_every_step_of_the_cycle_asks_a_question():
    assert set(STEPS) == set(dd.STEPS)


@pytest.mark.parametrize(
    ("view", "key", "words"),
    [
        (at("risk_assessment"), "risk-hcmc-sew-02", "Risk assessment of site hcmc-sew-02"),
        (at("policies_and_procedures"), "policies-1", "Policies and procedures"),
        (
            at("policies_and_procedures", reviews=1, pending_approvals=["program_manager"]),
            "policies_and_procedures-1-decision-1",
            "Approve the policies (review 1)? (awaiting: program manager)",
        ),
        (
            at("policies_and_procedures", reviews=1, pending_approvals=["program_manager"], refused=True),
            "policies-2",
            "Policies and procedures",
        ),
        (at("training"), "training-plan", "Training plan for key staff and suppliers (high-risk sites first"),
        (at("training", training_planned=40), "training-attendance", "Training attendance (40 planned)"),
        (at("monitoring"), "visit-dhaka-knit-01", "Monitoring visit to dhaka-knit-01 (risk: high)"),
        (
            at("communication", pending_approvals=["enterprise_leadership"]),
            "communication-0-decision-1",
            "Approve the annual report (artifact due-diligence-northwind-apparel-2026)?",
        ),
    ],
)
def test_the_question_of_each_moment_with_its_key_and_words(view, key, words):
    question = question_for(view)
    filled = filled_for(view) | {"step": view.step}
    assert question.key.format(**filled) == key
    assert question.words.format(**filled).startswith(words)
    assert question.asked_of.format(**filled)
    assert question.roles(view), "a question asks somebody"


def test_every_question_asks_with_a_form_that_says_who_answered():
    for question in QUESTIONS:
        assert "answered_by" in question.form.model_fields, question.key
