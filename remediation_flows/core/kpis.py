"""The field's outcome measures, read from the case store alone (no Prefect needed).

The measures practitioners report (ICI's CLMRS core criteria, the NGO's impact reports), for
one enterprise's cases notified in a period, each overall, by the child's sex (as recorded at
the assessment) and by site. Every measure is a share: a numerator and a denominator, both
counted in children (cases), except plans, counted in plans, and stipends, counted in payments.
Each carries its definition, which is printed beside it, because a share means nothing without
what it counts.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from remediation_flows.core.statuses import PlanStatus
from remediation_flows.core.store.repository import CaseStore
from remediation_flows.core.store.schema import (
    Assessment,
    Case,
    FollowUpVisit,
    Reintegration,
    RemediationPlan,
    StipendInstalment,
    utcnow,
)

ASSESSMENT_WINDOW = dt.timedelta(hours=72)
NOT_RECORDED = "not recorded"


@dataclass
class CaseFacts:
    """What the measures need to know about one case."""

    site_id: str
    sex: str
    assessed_in_time: bool
    plans_decided: int
    plans_accepted: int
    reintegrated: bool
    schooling: bool
    visits: int
    last_visit_in_school: bool | None
    last_visit_at_work: bool | None
    reopened: bool
    #: Ledger lines (monthly stipend and interim support) due by today, or settled already.
    payments_due: int = 0
    #: Of those, the lines paid in full by their due day.
    payments_on_time: int = 0


@dataclass(frozen=True)
class Measure:
    key: str
    title: str
    definition: str
    #: (numerator, denominator) contributed by one case.
    count: Callable[[CaseFacts], tuple[int, int]]


MEASURES: tuple[Measure, ...] = (
    Measure(
        "assessed_within_72_hours",
        "Notifications assessed within 72 hours",
        "children whose first on-site assessment was recorded within 72 hours of the notification, "
        "of all children notified in the period",
        lambda f: (int(f.assessed_in_time), 1),
    ),
    Measure(
        "plans_accepted",
        "Plans accepted",
        "remediation plans accepted by every party, of the plans decided (accepted or rejected); "
        "counted in plans, not children",
        lambda f: (f.plans_accepted, f.plans_decided),
    ),
    Measure(
        "two_or_more_follow_ups",
        "Children with at least two follow-ups",
        "children with two or more follow-up visits recorded, of the children reintegrated "
        "(school or young-worker protection)",
        lambda f: (int(f.reintegrated and f.visits >= 2), int(f.reintegrated)),
    ),
    Measure(
        "in_school_at_last_visit",
        "In school at the last visit",
        "children on the schooling path attending school at their latest follow-up visit, "
        "of the children on that path with at least one visit",
        lambda f: (int(bool(f.schooling and f.last_visit_in_school)), int(f.schooling and f.visits > 0)),
    ),
    Measure(
        "no_longer_in_child_labour_at_last_visit",
        "No longer in child labour at the last visit",
        "children not found back at work at their latest follow-up visit, "
        "of the children with at least one visit",
        lambda f: (int(f.visits > 0 and f.last_visit_at_work is False), int(f.visits > 0)),
    ),
    Measure(
        "reopened",
        "Re-opened cases (recurrence)",
        "children whose case was re-opened at least once (found working again), "
        "of all children notified in the period",
        lambda f: (int(f.reopened), 1),
    ),
    Measure(
        "stipends_paid_on_time",
        "Stipends paid on time",
        "payments of the stipend ledger (each month's stipend and each interim support) paid in full "
        "by their due day, as the payer confirmed them, of the payments whose due day has passed "
        "or that are paid; "
        "counted in payments, not children",
        lambda f: (f.payments_on_time, f.payments_due),
    ),
)


@dataclass(frozen=True)
class Figure:
    numerator: int
    denominator: int

    @property
    def percent(self) -> float | None:
        return None if self.denominator == 0 else round(100 * self.numerator / self.denominator, 1)

    def __str__(self) -> str:
        percent = self.percent
        return "-" if percent is None else f"{percent:g} % ({self.numerator}/{self.denominator})"


@dataclass
class MeasureFigures:
    measure: Measure
    overall: Figure
    by_sex: dict[str, Figure] = field(default_factory=dict)
    by_site: dict[str, Figure] = field(default_factory=dict)


@dataclass
class Kpis:
    enterprise_id: str
    site_id: str | None
    start: dt.date
    end: dt.date
    children: int
    measures: list[MeasureFigures]


def _facts(session: Session, case: Case) -> CaseFacts:
    assessments = session.scalars(
        select(Assessment).where(Assessment.case_id == case.id).order_by(Assessment.assessed_at)
    ).all()
    plans = session.scalars(select(RemediationPlan.status).where(RemediationPlan.case_id == case.id)).all()
    reintegrations = session.scalars(select(Reintegration.kind).where(Reintegration.case_id == case.id)).all()
    visits = session.scalars(
        select(FollowUpVisit)
        .where(FollowUpVisit.case_id == case.id)
        .order_by(FollowUpVisit.visited_on, FollowUpVisit.id)
    ).all()
    last = visits[-1] if visits else None
    ledger = session.execute(
        select(StipendInstalment.due_on, StipendInstalment.settled_on).where(
            StipendInstalment.case_id == case.id
        )
    ).all()
    today = utcnow().date()
    counted = [
        (due_on, settled_on) for due_on, settled_on in ledger if settled_on is not None or due_on < today
    ]
    sex = next((a.sex for a in reversed(assessments) if a.sex), None)
    return CaseFacts(
        site_id=case.site_id,
        sex=sex or NOT_RECORDED,
        assessed_in_time=bool(assessments)
        and assessments[0].assessed_at - case.notified_at <= ASSESSMENT_WINDOW,
        plans_decided=sum(status in (PlanStatus.ACCEPTED, PlanStatus.REJECTED) for status in plans),
        plans_accepted=sum(status == PlanStatus.ACCEPTED for status in plans),
        reintegrated=bool(reintegrations),
        schooling="school_reintegration" in reintegrations,
        visits=len(visits),
        last_visit_in_school=last.attending_school if last else None,
        last_visit_at_work=last.back_at_work if last else None,
        reopened=case.round > 1,
        payments_due=len(counted),
        payments_on_time=sum(settled is not None and settled <= due for due, settled in counted),
    )


def _sum(measure: Measure, facts: list[CaseFacts]) -> Figure:
    counts = [measure.count(f) for f in facts]
    return Figure(sum(n for n, _ in counts), sum(d for _, d in counts))


def compute_kpis(
    store: CaseStore, enterprise_id: str, start: dt.date, end: dt.date, site_id: str | None = None
) -> Kpis:
    """Every measure for the enterprise's cases notified from ``start`` up to ``end`` (both included, UTC)."""
    with store.reading() as session:
        return kpis_in(session, enterprise_id, start, end, site_id)


def kpis_in(
    session: Session, enterprise_id: str, start: dt.date, end: dt.date, site_id: str | None = None
) -> Kpis:
    """:func:`compute_kpis` within a session the caller holds (the annual report's)."""
    since = dt.datetime.combine(start, dt.time(), tzinfo=dt.UTC)
    until = dt.datetime.combine(end + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)
    query = select(Case).where(
        Case.enterprise_id == enterprise_id, Case.notified_at >= since, Case.notified_at < until
    )
    if site_id is not None:
        query = query.where(Case.site_id == site_id)
    facts = [_facts(session, case) for case in session.scalars(query.order_by(Case.id))]
    sexes = sorted({f.sex for f in facts} - {NOT_RECORDED}) + (
        [NOT_RECORDED] if any(f.sex == NOT_RECORDED for f in facts) else []
    )
    sites = sorted({f.site_id for f in facts})
    measures = [
        MeasureFigures(
            measure,
            _sum(measure, facts),
            {sex: _sum(measure, [f for f in facts if f.sex == sex]) for sex in sexes},
            {site: _sum(measure, [f for f in facts if f.site_id == site]) for site in sites},
        )
        for measure in MEASURES
    ]
    return Kpis(enterprise_id, site_id, start, end, len(facts), measures)


def kpi_lines(kpis: Kpis) -> list[str]:
    """The figures as text: each measure, its definition, then overall, by sex and by site."""
    where = f", site {kpis.site_id}" if kpis.site_id else ""
    lines = [
        f"{kpis.enterprise_id}{where}: {kpis.children} child(ren) notified from {kpis.start} to {kpis.end}",
    ]
    for figures in kpis.measures:
        lines += [
            "",
            f"{figures.measure.title}: {figures.overall}",
            f"  definition: {figures.measure.definition}",
            "  by sex: " + ("; ".join(f"{k} {v}" for k, v in figures.by_sex.items()) or "-"),
            "  by site: " + ("; ".join(f"{k} {v}" for k, v in figures.by_site.items()) or "-"),
        ]
    return lines
