"""A full due-diligence cycle through the Prefect API, with a monitoring finding that opens a case."""

from __future__ import annotations

import asyncio
import datetime as dt
import time

import pytest

from remediation_flows.core.due_diligence.report import build_report
from remediation_flows.core.store import repository as repo
from remediation_flows.stack.answering import RunAnswerer, next_prompt
from tests.conftest import PREFECT_HOME

pytestmark = pytest.mark.prefect

PM = "li.wen@ngo.example"


def site_answers(**changes) -> dict:
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


async def test_a_full_cycle_with_a_monitoring_finding_and_a_report_that_matches_the_store(deployed):
    from prefect.client.orchestration import get_client
    from prefect.deployments import arun_deployment

    year = 2031  # a year no other test uses
    run = await arun_deployment(
        "due-diligence-cycle/due-diligence-cycle",
        parameters={"enterprise_id": "northwind-apparel", "year": year, "started_by": PM},
        timeout=0,
        as_subflow=False,
    )
    cycle = RunAnswerer(run.id)
    await cycle.answer(
        "Risk assessment of site dhaka-knit-01",
        site_answers(
            workers_under_18_percent=7,
            age_verification="self_declared",
            uses_labour_agents=True,
            uses_subcontractors=True,
            dormitories=True,
            cases_last_3_years=1,
        ),
    )
    await cycle.answer("Risk assessment of site hcmc-sew-02", site_answers())
    await cycle.answer(
        "Policies and procedures",
        {
            "answered_by": "coo@northwind-apparel.example",
            "prevention_policy": True,
            "on_site_intervention_procedure": True,
            "remediation_policy": True,
            "document_reference": "POL-2031",
        },
    )
    # The role is the programme's, not the form's: the program manager cannot approve as leadership.
    await cycle.answer(
        "Approve the policies", {"answered_by": PM, "role": "enterprise_leadership", "approved": True}
    )
    asked_again = await cycle.answer(
        "Approve the policies",
        {"answered_by": "coo@northwind-apparel.example", "role": "enterprise_leadership", "approved": True},
    )
    assert f"{PM} does not hold the role enterprise_leadership" in asked_again, asked_again
    await cycle.answer(
        "Approve the policies", {"answered_by": PM, "role": "program_manager", "approved": True}
    )
    await cycle.answer(
        "high-risk sites first: dhaka-knit-01", {"answered_by": PM, "sessions": 2, "planned_participants": 25}
    )
    await cycle.answer("Training attendance (25 planned)", {"answered_by": PM, "attended": 20})
    await cycle.answer(
        "Monitoring visit to dhaka-knit-01 (risk: high)",
        {
            "answered_by": "rahim.uddin@ngo.example",
            "visited_on": dt.date.today().isoformat(),
            "child_found": True,
            "children_found": 1,
            "findings": "A minor in the packing section",
        },
    )
    description = await cycle.answer(
        "Approve the annual report",
        {
            "answered_by": "coo@northwind-apparel.example",
            "role": "enterprise_leadership",
            "approved": True,
        },
    )
    assert f"due-diligence-northwind-apparel-{year}" in description

    deadline = time.time() + 60
    async with get_client() as client:
        while time.time() < deadline:
            final = await client.read_flow_run(run.id)
            if final.state.is_final():
                break
            await asyncio.sleep(0.5)
        artifacts = await client.read_latest_artifacts()
    assert final.state.is_completed(), final.state

    with deployed.store.transaction() as session:
        data = build_report(session, "northwind-apparel", year)
    assert data.step == "done"
    assert [(r.site_id, r.level) for r in data.risks] == [("dhaka-knit-01", "high"), ("hcmc-sew-02", "low")]
    assert (data.training_planned, data.training_attended, data.training_coverage) == (25, 20, 80.0)
    [found] = [c for c in data.cases if c.from_monitoring]
    # The finding opened a case, and its lifecycle run is waiting for the on-site assessment.
    _, _, prompt = await next_prompt(found.reference, None)
    assert "On-site assessment" in prompt
    with deployed.store.transaction() as session:
        assert repo.get_case(session, found.reference).site_id == "dhaka-knit-01"

    report = next(a for a in artifacts if a.key == f"due-diligence-northwind-apparel-{year}")
    assert "Training: 20 of 25 planned participants trained (80 % coverage)." in report.data
    assert f"| {found.reference} | dhaka-knit-01 | on_site_assessment | - | yes |" in report.data
    files = sorted(
        p.name for p in (PREFECT_HOME and __import__("pathlib").Path(PREFECT_HOME) / "reports").glob("*")
    )
    assert files == [
        f"due-diligence-northwind-apparel-{year}.html",
        f"due-diligence-northwind-apparel-{year}.md",
    ]
