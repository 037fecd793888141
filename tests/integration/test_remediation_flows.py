"""The remediation lifecycle driven only through the Prefect API: run deployments, resume with input."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from remediation_flows.cli import main as remediate
from remediation_flows.core.config import Role, load_programme_file
from remediation_flows.core.store import repository as repo
from remediation_flows.core.store.schema import Case, ChildPersonalData, FollowUpVisit, RemediationPlan
from remediation_flows.stack.answering import CaseAnswerer as Driver
from tests.conftest import EXAMPLES
from tests.integration.conftest import run_deployment_and_wait, run_logs

pytestmark = pytest.mark.prefect

CM = "pedro.gomez@centro-mx.example"
CHILD_NAME = "Juanita Xochitl Pérez"
BIRTH_DATE = "2012-03-04"
TODAY = dt.date.today()


async def open_case(
    deployed,
    *,
    enterprise="campos-del-pacifico",
    site="sinaloa-culiacan",
    notified_at: dt.datetime | None = None,
) -> str:
    run = await run_deployment_and_wait(
        "open-a-case/open-a-case",
        {
            "notification": {
                "enterprise_id": enterprise,
                "site_id": site,
                "notified_at": (notified_at or dt.datetime.now(dt.UTC)).isoformat(),
                "source": "audit",
                "suspected_age": 13,
                "suspected_cause": "labour_agent",
                "reported_by": "lucia.fernandez@centro-mx.example",
            }
        },
    )
    assert run.state.is_completed(), run.state
    return deployed.newest_case()


def assessment(age: int, outcome: str) -> dict:
    return {
        "answered_by": CM,
        "age_years": age,
        "age_verification": "birth_certificate",
        "outcome": outcome,
        "removed_from_work": True,
        "safe_place": True,
        "child_consent": True,
        "guardian_consent": True,
    }


def plan(pathway: str = "schooling", stipend: float = 1500) -> dict:
    return {
        "answered_by": CM,
        "pathway": pathway,
        "monthly_stipend": stipend,
        "currency": "MXN",
        "school_fees": 300,
        "payer": "supplier",
    }


PROGRAMMES = {p.enterprise_id: p for p in map(load_programme_file, sorted(EXAMPLES.glob("*.yaml")))}


def approval(
    role: str,
    approved: bool = True,
    comment: str | None = None,
    enterprise: str = "campos-del-pacifico",
    site: str | None = None,
) -> dict:
    # An approver must hold the role at the case's site: the first person the programme lists there.
    approver = PROGRAMMES[enterprise].people_for(Role(role), site)[0].email
    return {"answered_by": approver, "role": role, "approved": approved, "comment": comment}


def enrolment(evidence: str) -> dict:
    return {
        "answered_by": CM,
        "effective_on": TODAY.isoformat(),
        "evidence_reference": evidence,
    }


def visit(day: dt.date, back_at_work: bool = False) -> dict:
    return {
        "answered_by": CM,
        "visited_on": day.isoformat(),
        "attending_school": not back_at_work,
        "back_at_work": back_at_work,
        "findings": "Attends class daily.",
    }


def state_of(deployed, reference: str) -> tuple[str, int]:
    with deployed.store.transaction() as session:
        case = repo.get_case(session, reference)
        return case.state, case.round


async def dispatch_mail(deployed) -> list:
    run = await run_deployment_and_wait("outbox-dispatcher/outbox-dispatcher", {})
    assert run.state.is_completed(), run.state
    return deployed.mail.parsed()


async def test_child_case_from_notification_to_closure_leaks_no_identity(deployed, tmp_path):
    reference = await open_case(deployed)
    assert state_of(deployed, reference) == ("on_site_assessment", 1)
    identity = tmp_path / "child.yaml"
    identity.write_text(
        f"full_name: {CHILD_NAME}\nbirth_date: {BIRTH_DATE}\nschool: Escuela Primaria Benito Juárez\n"
    )
    assert (
        remediate(
            [
                "case",
                "identify",
                reference,
                "--from-file",
                str(identity),
                "--recorded-by",
                CM,
                "--url",
                deployed.store.url,
            ]
        )
        == 0
    )

    case = Driver(reference)
    description = await case.wait("On-site assessment")
    # The run's name and tags say what it waits for, so the Runs page's filters make an inbox.
    assert case.run.name.startswith(f"{reference} · on-site assessment · due "), case.run.name
    assert case.run.name.endswith("(case manager)"), case.run.name
    assert {"waiting:case-manager", "enterprise:campos-del-pacifico", "site:sinaloa-culiacan"} <= set(
        case.run.tags
    )
    assert (
        "America/Mazatlan" in description
        and "the case manager (pedro.gomez@centro-mx.example)" in description
    )
    await case.answer("On-site assessment", assessment(14, "child_labourer"))
    await case.answer("Remediation plan", plan())
    await case.answer("Approve remediation plan", approval("supervisor"))
    await case.answer("awaiting: enterprise focal point", approval("enterprise_focal_point"))
    await case.answer(
        "School reintegration",
        enrolment("ENR-2026-0042"),
    )
    await _wait_state(deployed, reference, "monitoring")
    await case.answer("Follow-up visit 1", visit(TODAY + dt.timedelta(days=181)))
    await case.answer("Follow-up visit 2", visit(TODAY + dt.timedelta(days=362)))
    await case.answer("Close the case?", approval("program_manager", comment="Two visits in school; now 15"))
    await _wait_state(deployed, reference, "closed")

    with deployed.store.transaction() as session:
        case_row = repo.get_case(session, reference)
        moves = [
            e.details["to"] for e in repo.audit_trail(session, case_row) if e.action == "case_state_changed"
        ]
        assert moves == [
            "on_site_assessment",
            "remediation_plan",
            "school_reintegration",
            "monitoring",
            "closed",
        ]
        assert (
            session.scalar(
                select(func.count()).select_from(FollowUpVisit).where(FollowUpVisit.case_id == case_row.id)
            )
            == 2
        )

    messages = [m for m in await dispatch_mail(deployed) if reference in m["Subject"]]
    subjects = [m["Subject"] for m in messages]
    assert any("Tarea: Evaluación en el lugar" in s for s in subjects)
    assert any("Tarea: Reintegración escolar" in s for s in subjects)
    assert any("Visita de seguimiento 2" in s or "Visita de seguimiento" in s for s in subjects)
    task = next(m for m in messages if "Reintegración escolar" in m["Subject"])
    assert [p.get_content_type() for p in task.walk()][-1] == "text/calendar"

    from prefect.client.orchestration import get_client

    async with get_client() as client:
        artifact = await client.read_latest_artifacts()
    case_artifacts = [a for a in artifact if a.key == f"case-{reference.lower()}"]
    assert case_artifacts and "**Stage:** closed" in case_artifacts[0].data

    # Safeguarding: the name and birth date are in the case store, and nowhere else.
    with deployed.store.transaction() as session:
        stored = session.get(ChildPersonalData, repo.get_case(session, reference).id)
        assert (stored.full_name, stored.birth_date.isoformat()) == (CHILD_NAME, BIRTH_DATE)
    everything_prefect_holds = _dump_prefect_database(deployed.prefect_db)
    assert reference in everything_prefect_holds  # the scan does read the runs, inputs, logs and artifacts
    emails = "\n".join(raw.decode("utf-8", "replace") for _, _, raw in deployed.mail.messages)
    serve_log = deployed.serve_log.read_text()
    for secret in (CHILD_NAME, "Xochitl", BIRTH_DATE, "Benito Juárez"):
        assert secret not in everything_prefect_holds, f"{secret} found in the Prefect database"
        assert secret not in emails, f"{secret} found in an email"
        assert secret not in serve_log, f"{secret} found in the runner's log"


def _dump_prefect_database(url: str) -> str:
    """Every row of every table of the Prefect database (runs, inputs, logs, artifacts, events) as text."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        chunks = []
        with engine.connect() as connection:
            tables = connection.execute(
                text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
            ).scalars()
            for table in list(tables):
                rows = connection.execute(text(f'SELECT CAST(t AS text) FROM "{table}" t')).scalars()
                chunks.extend(rows)
        return "\n".join(chunks)
    finally:
        engine.dispose()


async def _wait_state(deployed, reference: str, state: str, seconds: float = 60) -> None:
    import asyncio
    import time

    deadline = time.time() + seconds
    while time.time() < deadline:
        if state_of(deployed, reference)[0] == state:
            return
        await asyncio.sleep(0.3)
    raise AssertionError(f"{reference} is {state_of(deployed, reference)}, not {state}")


async def test_young_worker_path(deployed):
    brand = "northwind-apparel"
    reference = await open_case(deployed, enterprise=brand, site="hcmc-sew-02")
    case = Driver(reference)
    # 17: a young worker followed until 18, a year of visits.
    await case.answer("On-site assessment", assessment(17, "young_worker"))
    young_plan = plan("young_worker_protection", 0) | {"currency": "VND"}
    await case.answer("Remediation plan", young_plan)
    site = "hcmc-sew-02"
    await case.answer("Approve remediation plan", approval("supervisor", enterprise=brand, site=site))
    await case.answer(
        "Approve remediation plan", approval("enterprise_focal_point", enterprise=brand, site=site)
    )
    await case.answer(
        "Young-worker protection",
        {
            "answered_by": CM,
            "effective_on": TODAY.isoformat(),
            "hazardous_tasks_removed": True,
            "hours_reduced": True,
            "night_shifts_stopped": True,
        },
    )
    # The programme's three offsets, then its repeat interval until the 18th birthday.
    visits = 0
    while "Close the case?" not in await case.wait(""):
        visits += 1
        await case.answer(f"Follow-up visit {visits}", visit(TODAY + dt.timedelta(days=31 * visits)))
    assert 3 < visits <= 6, f"{visits} visits for a young worker turning 18 within the year"
    await case.answer("Close the case?", approval("program_manager", enterprise=brand, site=site))
    await _wait_state(deployed, reference, "closed")
    with deployed.store.transaction() as session:
        moves = [
            e.details["to"]
            for e in repo.audit_trail(session, repo.get_case(session, reference))
            if e.action == "case_state_changed"
        ]
    assert moves == [
        "on_site_assessment",
        "remediation_plan",
        "young_worker_protection",
        "monitoring",
        "closed",
    ]


async def test_child_found_at_work_reopens_remediation(deployed):
    reference = await open_case(deployed)
    case = Driver(reference)
    await case.answer("On-site assessment", assessment(13, "child_labourer"))
    await case.answer("Remediation plan", plan())
    await case.answer("Approve remediation plan", approval("supervisor"))
    await case.answer("Approve remediation plan", approval("enterprise_focal_point"))
    await case.answer(
        "School reintegration",
        enrolment("ENR-7"),
    )
    await case.answer("Follow-up visit 1", visit(TODAY + dt.timedelta(days=181), back_at_work=True))
    description = await case.wait("Remediation plan")
    assert state_of(deployed, reference) == ("remediation_plan", 2)
    assert reference in description
    with deployed.store.transaction() as session:
        trail = repo.audit_trail(session, repo.get_case(session, reference))
        reopened = [e for e in trail if e.action == "case_state_changed" and e.details["to"] == "reopened"]
        assert reopened and "found at work again" in reopened[0].reason


async def test_bad_input_is_refused_with_a_clear_message_and_changes_nothing(deployed):
    from prefect.flow_runs import aresume_flow_run

    with deployed.store.transaction() as session:
        cases_before = session.scalar(select(func.count()).select_from(Case))
    unknown = await run_deployment_and_wait(
        "open-a-case/open-a-case",
        {
            "notification": {
                "enterprise_id": "no-such-brand",
                "site_id": "x",
                "notified_at": "2026-11-20T08:00:00Z",
                "source": "audit",
                "reported_by": "pm@ngo.example",
            }
        },
    )
    assert unknown.state.is_failed()
    assert any("unknown enterprise 'no-such-brand'" in line for line in await run_logs(unknown.id))
    bad_site = await run_deployment_and_wait(
        "open-a-case/open-a-case",
        {
            "notification": {
                "enterprise_id": "northwind-apparel",
                "site_id": "atlantis",
                "notified_at": "2026-11-20T08:00:00Z",
                "source": "audit",
                "reported_by": "pm@ngo.example",
            }
        },
    )
    assert bad_site.state.is_failed()
    assert any("has no site 'atlantis'" in line for line in await run_logs(bad_site.id))
    with deployed.store.transaction() as session:
        assert session.scalar(select(func.count()).select_from(Case)) == cases_before

    reference = await open_case(deployed)
    case = Driver(reference)
    await case.answer("On-site assessment", assessment(13, "child_labourer"))
    await case.wait("Remediation plan")
    # Given as the Resume dialog gives it (choices in words), only the stipend is wrong.
    from remediation_flows.flows.forms import resume_input
    from remediation_flows.flows.remediation.answers import PlanProposalAnswer

    with pytest.raises(RuntimeError, match="monthly_stipend"):
        await aresume_flow_run(
            case.run.id, run_input=resume_input(PlanProposalAnswer.form_schema(), plan(stipend=-5))
        )
    with deployed.store.transaction() as session:
        assert (
            session.scalar(
                select(func.count())
                .select_from(RemediationPlan)
                .join(Case)
                .where(Case.reference == reference)
            )
            == 0
        )
    await case.answer("Remediation plan", plan())  # the same prompt, still waiting
    await case.answer("Approve remediation plan", approval("supervisor"))
    await case.answer("Approve remediation plan", approval("enterprise_focal_point"))
    await case.answer(
        "School reintegration",
        enrolment("ENR-9"),
    )
    await case.answer("Follow-up visit 1", visit(TODAY - dt.timedelta(days=3)))
    refused_run = case.run.id
    description = await case.wait("Follow-up visit 1")  # asked again, under a new key
    assert "The previous answer was refused" in description and "before the enrolment date" in description
    assert any(
        "answer refused" in line and "before the enrolment date" in line
        for line in await run_logs(refused_run)
    )
    with deployed.store.transaction() as session:
        visits = session.scalar(
            select(func.count()).select_from(FollowUpVisit).join(Case).where(Case.reference == reference)
        )
    assert visits == 0 and state_of(deployed, reference) == ("monitoring", 1)


async def test_a_childs_name_typed_in_a_resume_answer_or_an_acts_reason_is_refused_and_kept_nowhere(
    deployed, tmp_path
):
    from tests.integration.conftest import run_act_and_wait
    from tests.unit.test_free_text_screen import everything_outside_the_protected_table

    reference = await open_case(deployed)
    identity = tmp_path / "child.yaml"
    identity.write_text(
        f"full_name: {CHILD_NAME}\nbirth_date: {BIRTH_DATE}\nschool: Escuela Primaria Benito Juárez\n"
    )
    identify = ["case", "identify", reference, "--from-file", str(identity), "--recorded-by", CM]
    assert remediate([*identify, "--url", deployed.store.url]) == 0
    slips = {
        "evidence_reference": "enrolment letter of Juanita X.",
        "reason": "Xochitl is in hospital",
    }

    case = Driver(reference)
    await case.answer("On-site assessment", assessment(14, "child_labourer"))
    await case.answer("Remediation plan", plan())
    await case.answer("Approve remediation plan", approval("supervisor"))
    await case.answer("Approve remediation plan", approval("enterprise_focal_point"))
    await case.answer("School reintegration", enrolment(slips["evidence_reference"]))
    refused_run = case.run.id
    description = await case.wait("School reintegration")  # asked again, naming the field only
    assert "evidence_reference: appears to contain the identity of the child of case" in description
    await case.answer("School reintegration", enrolment("ENR-2026-0107"))
    await _wait_state(deployed, reference, "monitoring")

    act = {"case_reference": reference, "step": "follow_up_visit", "granted_by": CM, "working_days": 5}
    refused_act = await run_act_and_wait("grant-an-extension/grant-an-extension", act, slips["reason"])
    assert refused_act.state.is_failed()
    assert any("reason: appears to contain the identity" in line for line in await run_logs(refused_act.id))
    granted = await run_act_and_wait("grant-an-extension/grant-an-extension", act, "visit team unavailable")
    assert granted.state.is_completed(), granted.state
    await dispatch_mail(deployed)

    # Prefect holds no answer of these runs any more; the name is nowhere but the store's own table.
    from sqlalchemy import create_engine, text

    engine = create_engine(deployed.prefect_db)
    try:
        with engine.connect() as connection:
            answers_kept = connection.execute(
                text(
                    "SELECT key FROM flow_run_input "
                    "WHERE flow_run_id = ANY(CAST(:runs AS uuid[])) AND key LIKE '%-response'"
                ),
                {"runs": [str(r) for r in (refused_run, refused_act.id, granted.id)]},
            ).all()
    finally:
        engine.dispose()
    assert answers_kept == []
    everything_prefect_holds = _dump_prefect_database(deployed.prefect_db)
    assert reference in everything_prefect_holds and "ENR-2026-0107" not in everything_prefect_holds
    store_outside_identity = everything_outside_the_protected_table(deployed.store)
    assert "visit team unavailable" in store_outside_identity  # the accepted reason is the store's record
    emails = "\n".join(raw.decode("utf-8", "replace") for _, _, raw in deployed.mail.messages)
    serve_log = deployed.serve_log.read_text()
    for secret in ("Juanita", "Xochitl", BIRTH_DATE, "Benito Juárez"):
        assert secret not in everything_prefect_holds, f"{secret} found in the Prefect database"
        assert secret.lower() not in store_outside_identity, f"{secret} found in the store outside its table"
        assert secret not in emails, f"{secret} found in an email"
        assert secret not in serve_log, f"{secret} found in the runner's log"
