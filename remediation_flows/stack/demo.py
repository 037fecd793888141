"""`remediate demo`: a case through approvals to an escalation, then a due-diligence cycle.

It runs only in the throwaway stack `remediate demo` starts (its own home, store, Prefect server and
mail sink). The slipped follow-up visit comes from the story's own dates, which are backdated, and
the escalation sweep runs at the present instant: no sweep "as of" a later day, which would be a
preview that writes nothing, and which in a live store would fire every real case's ladder early.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable
from pathlib import Path

from prefect.deployments import arun_deployment
from sqlalchemy import select

from remediation_flows.core.mail.sink import read_sink
from remediation_flows.core.store import CaseStore
from remediation_flows.core.store.schema import Case, Milestone, MilestoneEscalation
from remediation_flows.stack.answering import CaseAnswerer, RunAnswerer

CASE_MANAGER = "rahim.uddin@ngo.example"
# The story happened in the past: the report reached the NGO 60 days ago and the child was enrolled
# 50 days ago. Follow-up visit 1 is planned 30 days after enrolment with 5 working days to do it, so it
# is already overdue today by more than the ladder's last level (the director, 7 working days late).
NOTIFIED_DAYS_AGO = 60
ENROLLED_DAYS_AGO = 50


async def _run(name: str, parameters: dict) -> None:
    run = await arun_deployment(name, parameters=parameters, timeout=180, as_subflow=False, poll_interval=0.5)
    if not run.state or not run.state.is_completed():
        raise RuntimeError(f"{name} ended {run.state.type.value if run.state else 'without a state'}")


async def walk_a_case(store_url: str, ui_url: str, mail_dir: Path, progress: Callable[[str], None]) -> str:
    """Play the people of one case; returns its reference."""
    now = dt.datetime.now(dt.UTC)
    notified_at = now - dt.timedelta(days=NOTIFIED_DAYS_AGO)
    enrolled_on = (now - dt.timedelta(days=ENROLLED_DAYS_AGO)).date()
    progress(
        f"the story is backdated: a brand's auditor reported a child at the Gazipur knitwear factory on "
        f"{notified_at.date()} ({NOTIFIED_DAYS_AGO} days ago); running open-a-case"
    )
    await _run(
        "open-a-case/open-a-case",
        {
            "notification": {
                "enterprise_id": "northwind-apparel",
                "site_id": "dhaka-knit-01",
                "notified_at": notified_at.isoformat(),
                "source": "audit",
                "suspected_age": 13,
                "suspected_cause": "forged_id",
                "reported_by": "li.wen@ngo.example",
            }
        },
    )
    store = CaseStore(store_url)
    with store.transaction() as session:
        # The demo's own store holds only the demo's cases: the newest is the one just opened.
        reference = session.scalars(select(Case.reference).order_by(Case.id.desc()).limit(1)).one()
    store.dispose()
    case = CaseAnswerer(reference)
    progress(f"{reference}: the case manager reports the on-site assessment (age 13, removed from work)")
    await case.answer(
        "On-site assessment",
        {
            "answered_by": CASE_MANAGER,
            "age_years": 13,
            "age_verification": "school_records",
            "outcome": "child_labourer",
            "removed_from_work": True,
            "safe_place": True,
            "child_consent": True,
            "guardian_consent": True,
        },
    )
    progress(f"{reference}: the case manager proposes a plan: school, 8,000 BDT a month paid by the supplier")
    await case.answer(
        "Remediation plan",
        {
            "answered_by": CASE_MANAGER,
            "pathway": "schooling",
            "monthly_stipend": 8000,
            "currency": "BDT",
            "school_fees": 1500,
            "payer": "supplier",
        },
    )
    progress(f"{reference}: approvals: the supervisor, then the brand's compliance officer")
    await case.answer(
        "Approve remediation plan",
        {
            "answered_by": "chen.jing@ngo.example",
            "role": "supervisor",
            "approved": True,
            "comment": "Stipend matches the wage.",
        },
    )
    await case.answer(
        "Approve remediation plan",
        {
            "answered_by": "compliance@northwind-apparel.example",
            "role": "enterprise_focal_point",
            "approved": True,
        },
    )
    progress(f"{reference}: enrolment on {enrolled_on} ({ENROLLED_DAYS_AGO} days ago); monitoring begins")
    await case.answer(
        "School reintegration",
        {
            "answered_by": CASE_MANAGER,
            "effective_on": enrolled_on.isoformat(),
            "evidence_reference": "GZP-ENR-0193",
        },
    )
    await case.wait("Follow-up visit 1")
    progress(f"{reference}: follow-up visit 1 was never made; running the escalation sweep now")
    await _run("escalation-sweep/escalation-sweep", {})
    for line in escalations_of(store_url, reference):
        progress(f"   {line}")
    progress("sending the outbox to the demo's mail sink")
    await _run("outbox-dispatcher/outbox-dispatcher", {})
    await asyncio.sleep(1)
    mail = [m for m in read_sink(mail_dir) if reference in m.subject]
    progress(f"{len(mail)} emails about {reference} are in the mail sink:")
    for message in mail:
        progress(f"   #{message.number}  to {message.to[:48]:48}  {message.subject}")
    return reference


def escalations_of(store_url: str, reference: str) -> list[str]:
    """What the sweeps fired for the case, one line per milestone, read from the demo's store.

    Read from the store rather than from the sweep's result: a scheduled sweep of the demo's stack may
    have fired a level first, and what matters is what the case's people were told.
    """
    store = CaseStore(store_url)
    try:
        with store.transaction() as session:
            rows = session.execute(
                select(Milestone.title, Milestone.due_at, MilestoneEscalation)
                .select_from(MilestoneEscalation)
                .join(Milestone, Milestone.id == MilestoneEscalation.milestone_id)
                .join(Case, Case.id == Milestone.case_id)
                .where(Case.reference == reference)
                .order_by(Milestone.id, MilestoneEscalation.level_index)
            ).all()
    finally:
        store.dispose()
    fired: dict[tuple[str, dt.datetime], list[str]] = {}
    for title, due_at, firing in rows:
        # A level passed over in the same sweep is recorded without an email of its own.
        for level, notified in firing.levels:
            fired.setdefault((title, due_at), []).append(level if notified else f"({level})")
    if not fired:
        return ["nothing fired: no ladder level of this case has come yet"]
    return [
        f"{title}, due {due_at:%Y-%m-%d %H:%M} UTC: fired {', '.join(levels)}"
        for (title, due_at), levels in fired.items()
    ] + ["   (a level in brackets was passed in the same sweep: recorded, no email of its own)"]


def _site(**changes: object) -> dict:
    return {
        "answered_by": "compliance@northwind-apparel.example",
        "workers_under_18_percent": 0,
        "age_verification": "verified_with_authority",
        "uses_labour_agents": False,
        "uses_subcontractors": False,
        "student_or_vocational_workers": False,
        "dormitories": False,
        "cases_last_3_years": 0,
        "audit_findings_child_labour": 0,
    } | changes


async def walk_a_cycle(progress: Callable[[str], None]) -> str:
    """Play the people of one due-diligence cycle; returns the report artifact's key."""
    year = dt.date.today().year
    progress(f"starting northwind-apparel's {year} due-diligence cycle")
    run = await arun_deployment(
        "due-diligence-cycle/due-diligence-cycle",
        parameters={"enterprise_id": "northwind-apparel", "year": year, "started_by": "li.wen@ngo.example"},
        timeout=0,
        as_subflow=False,
    )
    cycle = RunAnswerer(run.id)
    progress("risk questionnaires: the Gazipur factory hires through agents and takes ages on trust")
    await cycle.answer(
        "Risk assessment of site dhaka-knit-01",
        _site(
            workers_under_18_percent=6,
            age_verification="self_declared",
            uses_labour_agents=True,
            uses_subcontractors=True,
            dormitories=True,
            cases_last_3_years=1,
        ),
    )
    await cycle.answer("Risk assessment of site hcmc-sew-02", _site(age_verification="documents_checked"))
    progress("policies reviewed, then approved by the brand's leadership and the program manager")
    await cycle.answer(
        "Policies and procedures",
        {
            "answered_by": "coo@northwind-apparel.example",
            "prevention_policy": True,
            "on_site_intervention_procedure": True,
            "remediation_policy": True,
            "document_reference": f"POL-{year}",
        },
    )
    await cycle.answer(
        "Approve the policies",
        {"answered_by": "coo@northwind-apparel.example", "role": "enterprise_leadership", "approved": True},
    )
    await cycle.answer(
        "Approve the policies",
        {"answered_by": "li.wen@ngo.example", "role": "program_manager", "approved": True},
    )
    progress("training: 30 planned, 26 attended; monitoring the high-risk site finds no child at work")
    await cycle.answer(
        "Training plan", {"answered_by": "li.wen@ngo.example", "sessions": 2, "planned_participants": 30}
    )
    await cycle.answer("Training attendance", {"answered_by": "li.wen@ngo.example", "attended": 26})
    await cycle.answer(
        "Monitoring visit to dhaka-knit-01",
        {
            "answered_by": CASE_MANAGER,
            "visited_on": dt.date.today().isoformat(),
            "child_found": False,
            "children_found": 0,
        },
    )
    progress("the annual report is built from the store and approved")
    await cycle.answer(
        "Approve the annual report",
        {"answered_by": "coo@northwind-apparel.example", "role": "enterprise_leadership", "approved": True},
    )
    return f"due-diligence-northwind-apparel-{year}"
