"""The lifecycle's pure rules, without a database: assessment checks, the visit schedule, money."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from remediation_flows.core.casework import rules
from remediation_flows.core.casework.reports import AgeVerification, AssessmentOutcome, AssessmentReport
from remediation_flows.core.errors import InvalidInput


def report(age: int, outcome: AssessmentOutcome, **changes: object) -> AssessmentReport:
    fields: dict[str, object] = dict(
        age_years=age,
        age_verification=AgeVerification.BIRTH_CERTIFICATE,
        outcome=outcome,
        removed_from_work=True,
        safe_place=True,
        child_consent=True,
        guardian_consent=True,
    )
    fields.update(changes)
    return AssessmentReport(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("age", "outcome", "refusal"),
    [
        (13, AssessmentOutcome.CHILD_LABOURER, None),
        (14, AssessmentOutcome.CHILD_LABOURER, "under BD's minimum working age 14"),
        (15, AssessmentOutcome.YOUNG_WORKER, None),
        (13, AssessmentOutcome.YOUNG_WORKER, "needs an age from 14 to 17"),
        (18, AssessmentOutcome.NOT_A_CHILD, None),
        (17, AssessmentOutcome.NOT_A_CHILD, "age of 18 or more"),
        (4, AssessmentOutcome.CHILD_LABOURER, "not a plausible verified age"),
    ],
)
def test_the_outcome_must_fit_the_verified_age(age, outcome, refusal):
    if refusal is None:
        rules.check_assessment(report(age, outcome), minimum_age=14, country="BD")
    else:
        with pytest.raises(InvalidInput, match=refusal):
            rules.check_assessment(report(age, outcome), minimum_age=14, country="BD")


def test_remediation_needs_the_child_out_of_work_and_the_guardians_consent():
    with pytest.raises(InvalidInput, match="removed from work"):
        rules.check_assessment(
            report(12, AssessmentOutcome.CHILD_LABOURER, removed_from_work=False), 14, "BD"
        )
    with pytest.raises(InvalidInput, match="guardian's consent"):
        rules.check_assessment(report(12, AssessmentOutcome.CHILD_LABOURER, guardian_consent=False), 14, "BD")


def test_a_young_worker_may_keep_the_job_but_not_its_hazards():
    kept_on = dict(removed_from_work=False, removed_from_hazardous_work=True)
    rules.check_assessment(report(16, AssessmentOutcome.YOUNG_WORKER, **kept_on), 14, "BD")
    rules.check_assessment(report(16, AssessmentOutcome.YOUNG_WORKER), 14, "BD")  # out of all work: also fine
    with pytest.raises(InvalidInput, match="young worker must be removed from hazardous work"):
        rules.check_assessment(report(16, AssessmentOutcome.YOUNG_WORKER, removed_from_work=False), 14, "BD")
    # Out of hazardous work is not enough below the minimum age.
    with pytest.raises(InvalidInput, match="removed from work"):
        rules.check_assessment(report(12, AssessmentOutcome.CHILD_LABOURER, **kept_on), 14, "BD")


def test_visits_follow_the_offsets_then_repeat(garment_brand):
    # garment_brand: 30, 60 and 90 days after the last, then every 90 days.
    enrolled = dt.date(2026, 1, 10)
    planned = [rules.visit_start(garment_brand, enrolled, number) for number in (1, 2, 3, 4, 5)]
    gaps = [(b - a).days for a, b in zip([enrolled, *planned], planned, strict=False)]
    assert gaps == [30, 60, 90, 90, 90]


def test_money_is_never_negative():
    assert rules.money(Decimal("0"), "school fees") == Decimal("0")
    with pytest.raises(InvalidInput, match="school fees must not be negative"):
        rules.money(Decimal("-1"), "school fees")
