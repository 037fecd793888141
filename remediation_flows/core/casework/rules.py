"""The lifecycle's pure rules, testable without a database: assessment checks, the visit schedule, money."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from remediation_flows.core.casework.reports import AssessmentOutcome, AssessmentReport
from remediation_flows.core.config.minimum_age import HAZARDOUS_WORK_AGE
from remediation_flows.core.config.model import DurationUnit, Programme
from remediation_flows.core.errors import InvalidInput


def money(value: Decimal, what: str) -> Decimal:
    """``value``, refused if negative; ``what`` names it in the refusal."""
    if value < 0:
        raise InvalidInput(f"{what} must not be negative (got {value})")
    return value


def check_assessment(report: AssessmentReport, minimum_age: int, country: str) -> None:
    """Refuse an assessment whose verified age, outcome, removal from work or consent do not agree.

    A child labourer is removed from all work; a young worker at least from hazardous work.
    """
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
    if report.outcome is AssessmentOutcome.CHILD_LABOURER and not report.removed_from_work:
        raise InvalidInput("the child must be removed from work before the assessment is recorded")
    if report.outcome is AssessmentOutcome.YOUNG_WORKER and not (
        report.removed_from_hazardous_work or report.removed_from_work
    ):
        # Above the minimum age the job may stay; hazardous tasks and night shifts may not.
        raise InvalidInput(
            "a young worker must be removed from hazardous work (hazardous tasks, night shifts) "
            "before the assessment is recorded"
        )
    if report.outcome is not AssessmentOutcome.NOT_A_CHILD and not report.guardian_consent:
        raise InvalidInput("remediation needs the guardian's consent: record it, or withdraw the case")


def visit_start(programme: Programme, effective_on: dt.date, number: int) -> dt.date:
    """The day follow-up visit ``number`` is planned, from the reintegration date."""
    rule = programme.monitoring
    offsets = list(rule.follow_up_offsets)
    day = effective_on
    for index in range(number):
        offset = offsets[index] if index < len(offsets) else rule.repeat_every or offsets[-1]
        day = day + dt.timedelta(days=offset.amount if offset.unit is not DurationUnit.HOURS else 1)
    return day
