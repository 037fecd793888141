"""Scoring a site's child-labour risk from its questionnaire and its country's prevalence.

The rules, each adding points (the reasons list says which applied):

- country prevalence (the national figure, whatever it measures: the reason names its
  measure and ages, see prevalence.py): under 5 % +1; 5 to 10 % +2; 10 % or more +3;
  no national figure +2
- kind of site: farm or workshop +2 (informal, family and piece-rate work); other +1
- age verification at hiring: none +3; self-declared age +2; documents checked +1;
  documents verified with an authority +0
- labour agents +2; subcontractors +2; student or vocational-school workers +2; dormitories +1
- workers under 18: more than 5 % of the workforce +2; any +1
- child-labour cases at the site in the last 3 years: one +2; two or more +3
- child-labour findings in the latest audit: any +2

Level: 5 points or fewer is low, 6 to 10 medium, 11 or more high.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from remediation_flows.core.due_diligence.prevalence import PREVALENCE
from remediation_flows.core.errors import InvalidInput


class AgeVerificationPractice(StrEnum):
    NONE = "none"
    SELF_DECLARED = "self_declared"
    DOCUMENTS_CHECKED = "documents_checked"
    VERIFIED_WITH_AUTHORITY = "verified_with_authority"


class RiskLevel(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


@dataclass(frozen=True)
class SiteQuestionnaire:
    """What the enterprise answers about one site."""

    workers_under_18_percent: float
    age_verification: AgeVerificationPractice
    uses_labour_agents: bool
    uses_subcontractors: bool
    student_or_vocational_workers: bool
    dormitories: bool
    cases_last_3_years: int
    audit_findings_child_labour: int


@dataclass(frozen=True)
class SiteRisk:
    score: int
    level: RiskLevel
    reasons: list[str]


AGE_VERIFICATION_POINTS = {
    AgeVerificationPractice.NONE: 3,
    AgeVerificationPractice.SELF_DECLARED: 2,
    AgeVerificationPractice.DOCUMENTS_CHECKED: 1,
    AgeVerificationPractice.VERIFIED_WITH_AUTHORITY: 0,
}


def level_for(score: int) -> RiskLevel:
    if score <= 5:
        return RiskLevel.LOW
    return RiskLevel.MEDIUM if score <= 10 else RiskLevel.HIGH


def check_questionnaire(answers: SiteQuestionnaire) -> None:
    """Refuse answers no site can have; :class:`InvalidInput` names the field."""
    if not 0 <= answers.workers_under_18_percent <= 100:
        raise InvalidInput(
            f"workers_under_18_percent must be between 0 and 100, not {answers.workers_under_18_percent}"
        )
    if answers.cases_last_3_years < 0 or answers.audit_findings_child_labour < 0:
        raise InvalidInput("counts of cases and findings must not be negative")


def score_site(country: str, site_kind: str | None, answers: SiteQuestionnaire) -> SiteRisk:
    """The site's score, level and the reasons that drove it (see the module's rules)."""
    reasons: list[tuple[int, str]] = []
    prevalence = PREVALENCE.get(country)
    if prevalence is None or prevalence.percent is None:
        reasons.append((2, f"no national child-labour figure for {country}"))
    else:
        percent = prevalence.percent
        points = 1 if percent < 5 else 2 if percent < 10 else 3
        reasons.append(
            (
                points,
                f"{percent:g} % of children {prevalence.ages} in {prevalence.measure.value} in {country} "
                f"({prevalence.source}, {prevalence.year})",
            )
        )
    if site_kind in ("farm", "workshop"):
        reasons.append((2, f"a {site_kind}: informal, family and piece-rate work"))
    else:
        reasons.append((1, f"a {site_kind or 'site'} of formal employment"))
    age_points = AGE_VERIFICATION_POINTS[answers.age_verification]
    if age_points:
        reasons.append(
            (age_points, f"age verification at hiring: {answers.age_verification.value.replace('_', ' ')}")
        )
    for flag, points, text in (
        (answers.uses_labour_agents, 2, "hires through labour agents"),
        (answers.uses_subcontractors, 2, "uses subcontractors"),
        (answers.student_or_vocational_workers, 2, "employs student or vocational-school workers"),
        (answers.dormitories, 1, "houses workers in dormitories"),
    ):
        if flag:
            reasons.append((points, text))
    if answers.workers_under_18_percent > 5:
        reasons.append((2, f"{answers.workers_under_18_percent:g} % of workers are under 18"))
    elif answers.workers_under_18_percent > 0:
        reasons.append((1, f"{answers.workers_under_18_percent:g} % of workers are under 18"))
    if answers.cases_last_3_years >= 2:
        reasons.append((3, f"{answers.cases_last_3_years} child-labour cases in the last 3 years"))
    elif answers.cases_last_3_years == 1:
        reasons.append((2, "a child-labour case in the last 3 years"))
    if answers.audit_findings_child_labour > 0:
        reasons.append(
            (2, f"{answers.audit_findings_child_labour} child-labour finding(s) in the latest audit")
        )
    score = sum(points for points, _ in reasons)
    ordered = [f"+{points} {text}" for points, text in sorted(reasons, key=lambda r: -r[0])]
    return SiteRisk(score=score, level=level_for(score), reasons=ordered)
