"""Typed, validated enterprise programme configuration.

These objects are built only by :mod:`remediation_flows.core.config.loader`, after the
document has passed the JSON Schema and the cross-field checks.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class DurationUnit(StrEnum):
    HOURS = "hours"
    CALENDAR_DAYS = "calendar_days"
    WORKING_DAYS = "working_days"


class Role(StrEnum):
    ENTERPRISE_FOCAL_POINT = "enterprise_focal_point"
    ENTERPRISE_LEADERSHIP = "enterprise_leadership"
    PROGRAM_MANAGER = "program_manager"
    CASE_MANAGER = "case_manager"
    SUPERVISOR = "supervisor"
    DIRECTOR = "director"


WEEKDAY_NUMBERS = {"mon": 0, "tue": 1, "wed": 2, "thu": 3, "fri": 4, "sat": 5, "sun": 6}


@dataclass(frozen=True)
class Duration:
    """An amount of hours, calendar days or working days."""

    amount: int
    unit: DurationUnit

    def __str__(self) -> str:
        return f"{self.amount} {self.unit.value.replace('_', ' ')}"


@dataclass(frozen=True)
class Person:
    name: str
    email: str
    #: The language this person reads; None: the site's, else the enterprise's.
    language: str | None = None


@dataclass(frozen=True)
class Closure:
    """Days a site is closed, both ends included."""

    first_day: dt.date
    last_day: dt.date
    reason: str

    def covers(self, day: dt.date) -> bool:
        return self.first_day <= day <= self.last_day


@dataclass(frozen=True)
class Site:
    id: str
    name: str
    country: str
    time_zone: str
    subdivision: str | None = None
    kind: str | None = None
    working_week: frozenset[int] | None = None
    closures: tuple[Closure, ...] = ()
    #: People by role for this site alone; a role not named here falls back to the enterprise's.
    contacts: dict[Role, tuple[Person, ...]] = field(default_factory=dict, hash=False)
    #: The language of this site's people unless a person names their own; None: the enterprise's.
    language: str | None = None


@dataclass(frozen=True)
class LadderLevel:
    """One rung of an escalation ladder: when it fires and whom it tells."""

    name: str
    offset_working_days: int
    notify: tuple[Role, ...]


@dataclass(frozen=True)
class ApprovalPolicy:
    """Who may record a step's approvals, and how.

    The defaults keep programmes written before task links working: staff may record a decision
    in the Prefect UI on the approver's behalf (with a reason), the plan's proposer may not
    approve it, and one person holding two of the roles asked decides under one of them only.
    """

    staff_may_record: bool = True
    proposer_may_approve: bool = False
    one_person_many_roles: bool = False


@dataclass(frozen=True)
class StepRule:
    """The deadline, owner, approvals and escalation ladder of one step."""

    step: str
    deadline: Duration
    owner: Role
    approval: tuple[Role, ...]
    ladder: tuple[LadderLevel, ...]
    approval_policy: ApprovalPolicy = ApprovalPolicy()


@dataclass(frozen=True)
class MonitoringRule:
    follow_up_offsets: tuple[Duration, ...]
    repeat_every: Duration | None
    until_minimum_working_age: bool
    max_visits: int | None


#: The day of the month a stipend is due when the programme names none: early in the month, when
#: families pay school costs and rent, and after most factories' month-end payroll.
DEFAULT_STIPEND_PAYMENT_DAY = 5
#: Monthly payments tracked for a plan when the programme names no number: a school year.
DEFAULT_STIPEND_MONTHS = 12


@dataclass(frozen=True)
class StipendRule:
    """When the plan's monthly stipend falls due, and for how many months it is tracked."""

    #: Day of the month (1 to 28, so that every month has it) each payment is due, in the site's time.
    payment_day: int = DEFAULT_STIPEND_PAYMENT_DAY
    #: How many monthly payments an accepted plan creates, one after another.
    months: int = DEFAULT_STIPEND_MONTHS


@dataclass(frozen=True)
class RegimeSetting:
    """A legal regime the enterprise reports under, with the clocks the programme sets for it.

    The regimes and their default clocks are declared in
    ``remediation_flows.core.due_diligence.legal_regimes``; ``None`` takes the regime's default.
    """

    regime: str
    #: Months between periodic risk assessments (the EU CSDDD's interval, for instance).
    assessment_every_months: int | None = None
    #: Whether the regime's annual report is owed (the LkSG's was abolished in 2025).
    annual_report: bool | None = None
    #: Months after the financial year end that the report or statement is due.
    report_due_months_after_year_end: int | None = None


@dataclass(frozen=True)
class DueDiligenceRule:
    cycle_start_month: int
    #: The next risk assessment is due this many months after the last completed one.
    risk_assessment_every_months: int
    #: The next policy review is due this many months after the last completed one.
    policy_review_every_months: int
    report_due_months_after_year_end: int
    steps: dict[str, StepRule]
    legal_regimes: tuple[RegimeSetting, ...] = ()
    #: A case opened at a site opens an ad-hoc risk reassessment of that site (if none is open).
    reassess_site_on_new_case: bool = False


#: Months a child's identity is kept after the case is closed or withdrawn, unless the programme
#: says otherwise. Three years: a child found working again in that time (a recurrence, most often
#: at the brand's next yearly audits of the site) is recognised as the same child and the case
#: re-opened rather than started afresh, and three yearly audit cycles can still check the
#: remediation against the child it was for. Longer would keep identities no casework needs.
DEFAULT_IDENTITY_RETENTION_MONTHS = 36


@dataclass(frozen=True)
class Programme:
    """One enterprise's whole programme, as configured."""

    enterprise_id: str
    name: str
    language: str
    sector: str | None
    financial_year_end: str | None
    contacts: dict[Role, tuple[Person, ...]]
    sites: dict[str, Site]
    minimum_working_age: dict[str, int]
    remediation_steps: dict[str, StepRule]
    monitoring: MonitoringRule
    due_diligence: DueDiligenceRule
    #: Months the child's identity is kept after its case is closed or withdrawn.
    identity_retention_months: int = DEFAULT_IDENTITY_RETENTION_MONTHS
    stipends: StipendRule = StipendRule()
    document: dict[str, Any] = field(repr=False, compare=False, default_factory=dict)
    #: SHA-256 of the canonical document: names this exact version of the programme.
    fingerprint: str = ""

    def site(self, site_id: str) -> Site:
        from remediation_flows.core.errors import NotFound

        try:
            return self.sites[site_id]
        except KeyError:
            known = ", ".join(sorted(self.sites))
            raise NotFound(
                f"enterprise {self.enterprise_id} has no site '{site_id}' (known: {known})"
            ) from None

    def step(self, step: str) -> StepRule:
        from remediation_flows.core.errors import NotFound

        rule = self.remediation_steps.get(step) or self.due_diligence.steps.get(step)
        if rule is None:
            known = ", ".join(sorted([*self.remediation_steps, *self.due_diligence.steps]))
            raise NotFound(f"enterprise {self.enterprise_id} has no step '{step}' (known: {known})")
        return rule

    def people_for(self, role: Role, site_id: str | None = None) -> tuple[Person, ...]:
        """The site's people in ``role`` where the programme names any there, else the enterprise's."""
        if site_id is not None:
            at_site = self.site(site_id).contacts.get(role)
            if at_site:
                return at_site
        return self.contacts.get(role, ())

    def emails_for(self, roles: tuple[Role, ...] | list[Role], site_id: str | None = None) -> list[str]:
        """Every address of the given roles (at ``site_id`` when given), each once, in role order."""
        seen: dict[str, None] = {}
        for role in roles:
            for person in self.people_for(role, site_id):
                seen.setdefault(person.email, None)
        return list(seen)

    def language_of(self, email: str, site_id: str | None = None) -> str:
        """The language to write to ``email`` in: the person's own, else the site's, else the enterprise's."""
        site = self.site(site_id) if site_id is not None else None
        people = [p for group in (site.contacts.values() if site else ()) for p in group]
        people += [p for group in self.contacts.values() for p in group]
        own = next((p.language for p in people if p.email == email and p.language), None)
        return own or (site.language if site and site.language else None) or self.language

    def minimum_age_for(self, country: str) -> int:
        return self.minimum_working_age[country]
