"""The forms of the due-diligence cycle's questions."""

from __future__ import annotations

import datetime as dt

from pydantic import Field

from remediation_flows.core.due_diligence.risk import AgeVerificationPractice
from remediation_flows.flows.forms import Form
from remediation_flows.flows.remediation.answers import ANSWERED_BY, NO_NAMES


class SiteRiskAnswer(Form):
    answered_by: str = ANSWERED_BY
    workers_under_18_percent: float = Field(title="Workers under 18 (% of the workforce)", ge=0, le=100)
    age_verification: AgeVerificationPractice = Field(title="Age verification at hiring")
    uses_labour_agents: bool = Field(title="Hires through labour agents")
    uses_subcontractors: bool = Field(title="Uses subcontractors")
    student_or_vocational_workers: bool = Field(title="Employs student or vocational-school workers")
    dormitories: bool = Field(title="Houses workers in dormitories")
    cases_last_3_years: int = Field(title="Child-labour cases at the site in the last 3 years", ge=0)
    audit_findings_child_labour: int = Field(title="Child-labour findings in the latest audit", ge=0)


class PolicyReviewAnswer(Form):
    answered_by: str = ANSWERED_BY
    prevention_policy: bool = Field(title="Child-labour prevention policy drafted or reviewed")
    on_site_intervention_procedure: bool = Field(title="On-site intervention procedure drafted or reviewed")
    remediation_policy: bool = Field(title="Remediation policy drafted or reviewed")
    document_reference: str = Field(title="Document reference", min_length=1, max_length=200)


class TrainingPlanAnswer(Form):
    answered_by: str = ANSWERED_BY
    sessions: int = Field(title="Sessions planned", ge=1)
    planned_participants: int = Field(title="Key staff and supplier participants planned", ge=1)


class TrainingAttendanceAnswer(Form):
    answered_by: str = ANSWERED_BY
    attended: int = Field(title="Participants who attended", ge=0)


class MonitoringVisitAnswer(Form):
    answered_by: str = ANSWERED_BY
    visited_on: dt.date = Field(title="Visit or audit date")
    child_found: bool = Field(
        title="A child was found at work", description="Opens a remediation case per child."
    )
    children_found: int = Field(default=0, ge=0, le=50, title="How many children were found")
    findings: str | None = Field(default=None, title="Findings", description=NO_NAMES, max_length=2000)
