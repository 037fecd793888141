"""Operating the programme through Prefect: blocks, the escalation sweep and its automation, extensions."""

from __future__ import annotations

import asyncio
import datetime as dt
import time

import pytest
from sqlalchemy import select

from remediation_flows.cli import main as remediate
from remediation_flows.core.store import repository as repo
from remediation_flows.core.store.schema import AuditEvent, Case, Milestone, MilestoneEscalation
from remediation_flows.stack.answering import CaseAnswerer as Driver
from tests.conftest import EXAMPLES
from tests.integration.conftest import run_act_and_wait, run_deployment_and_wait, run_logs
from tests.integration.test_remediation_flows import open_case, state_of

pytestmark = pytest.mark.prefect


def test_config_load_saves_a_valid_programme_and_refuses_an_invalid_one(deployed, tmp_path, capsys):
    from remediation_flows.blocks import EnterpriseProgramme

    assert remediate(["config", "load", str(EXAMPLES / "garment_brand.yaml")]) == 0
    assert "saved as block enterprise-programme/northwind-apparel" in capsys.readouterr().out
    broken = tmp_path / "broken.yaml"
    broken.write_text((EXAMPLES / "garment_brand.yaml").read_text().replace("Asia/Dhaka", "Asia/Nowhere"))
    assert remediate(["config", "load", str(broken)]) == 2
    assert "$.sites[0].time_zone: unknown time zone 'Asia/Nowhere'" in capsys.readouterr().err
    kept = EnterpriseProgramme.load("northwind-apparel").programme_document()
    assert kept["sites"][0]["time_zone"] == "Asia/Dhaka"


def test_config_load_offers_the_new_enterprise_in_the_forms_at_once(deployed, tmp_path, capsys):
    from prefect.client.orchestration import get_client

    from remediation_flows.blocks import EnterpriseProgramme
    from remediation_flows.flows.form_choices import refresh_programme_choices

    new = tmp_path / "southwind.yaml"
    new.write_text(
        (EXAMPLES / "garment_brand.yaml")
        .read_text()
        .replace("id: northwind-apparel", "id: southwind-apparel")
        .replace("Northwind Apparel Ltd", "Southwind Apparel Ltd")
    )
    label = "Southwind Apparel Ltd (southwind-apparel)"

    async def offered() -> tuple[list[str], list[str]]:
        async with get_client() as client:
            case = await client.read_deployment_by_name("open-a-case/open-a-case")
            cycle = await client.read_deployment_by_name("due-diligence-cycle/due-diligence-cycle")
        notification = case.parameter_openapi_schema["definitions"]["CaseNotification"]["properties"]
        return notification["enterprise_id"]["enum"], cycle.parameter_openapi_schema["properties"][
            "enterprise_id"
        ]["enum"]

    assert label not in asyncio.run(offered())[1]
    assert remediate(["config", "load", str(new)]) == 0
    printed = capsys.readouterr().out
    assert "open-a-case's form now offers its enterprises and sites" in printed
    assert "due-diligence-cycle's form now offers its enterprises" in printed
    try:
        for enterprises in asyncio.run(offered()):
            assert label in enterprises and "Northwind Apparel Ltd (northwind-apparel)" in enterprises
    finally:  # other tests count the enterprises on the server
        EnterpriseProgramme.delete("southwind-apparel")
        asyncio.run(refresh_programme_choices())
    assert all(label not in enterprises for enterprises in asyncio.run(offered()))


async def test_a_block_edited_into_an_invalid_state_is_refused_when_loaded(deployed):
    from remediation_flows.blocks import EnterpriseProgramme
    from remediation_flows.blocks.programme_form import to_form
    from remediation_flows.core.config import ConfigInvalid
    from remediation_flows.core.config.loader import parse_yaml
    from tests.integration.conftest import run_logs

    document = parse_yaml((EXAMPLES / "garment_brand.yaml").read_text(), "x")
    document["enterprise"]["id"] = "edited-in-the-ui"
    document["escalation_ladders"]["default"][1]["offset_working_days"] = -5  # out of order
    # As if edited on the Blocks page: saved without going through the model's validation.
    await EnterpriseProgramme.model_construct(**to_form(document)).asave("edited-in-the-ui", overwrite=True)
    expected = (
        "block enterprise-programme/edited-in-the-ui: $.escalation_ladders.default[1].offset_working_days: "
        "ladder offsets must increase: -5 follows -2 "
        "(Blocks page field: Ladder 1 level 2 offset (working days))"
    )
    with pytest.raises(ConfigInvalid) as caught:
        await EnterpriseProgramme.aload_programme("edited-in-the-ui")
    assert [str(p) for p in caught.value.problems] == [expected]
    # A flow that needs the programme fails with the same message in its log.
    run = await run_deployment_and_wait(
        "open-a-case/open-a-case",
        {
            "notification": {
                "enterprise_id": "edited-in-the-ui",
                "site_id": "dhaka-knit-01",
                "notified_at": "2026-11-20T08:00:00Z",
                "source": "audit",
                "reported_by": "pm@ngo.example",
            }
        },
    )
    assert run.state.is_failed()
    assert any(expected in line for line in await run_logs(run.id))


async def test_a_block_saved_by_an_older_version_still_loads(deployed):
    """A stack's blocks saved before the form hold the whole document in one `programme` field."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import BlockDocumentCreate

    from remediation_flows.blocks import EnterpriseProgramme
    from remediation_flows.core.config.loader import parse_yaml

    document = parse_yaml((EXAMPLES / "mexican_agro_exporter.yaml").read_text(), "x")
    document["enterprise"]["id"] = "saved-before-the-form"
    async with get_client() as client:
        current = await client.read_block_document_by_name(
            "campos-del-pacifico", EnterpriseProgramme.get_block_type_slug()
        )
        saved = await client.create_block_document(
            BlockDocumentCreate(
                name="saved-before-the-form",
                data={"programme": document},
                block_schema_id=current.block_schema_id,
                block_type_id=current.block_type_id,
            )
        )
        try:
            programme = await EnterpriseProgramme.aload_programme("saved-before-the-form")
            assert programme.enterprise_id == "saved-before-the-form"
            assert "sinaloa-culiacan" in programme.sites
            loaded = await EnterpriseProgramme.aload("saved-before-the-form")
            assert loaded.programme_document() == document
        finally:  # other tests count the enterprises on the server
            await client.delete_block_document(saved.id)


async def test_sweep_escalates_once_emits_events_and_the_automation_sends_the_mail(deployed):
    from prefect.client.orchestration import get_client
    from prefect.events.filters import EventFilter, EventNameFilter, EventOccurredFilter, EventRelatedFilter

    # Notified ten days ago: its 72-hour assessment is long overdue now.
    reference = await open_case(
        deployed,
        enterprise="northwind-apparel",
        site="dhaka-knit-01",
        notified_at=dt.datetime.now(dt.UTC) - dt.timedelta(days=10),
    )
    await Driver(reference).wait("On-site assessment")
    started = dt.datetime.now(dt.UTC)
    # A look further ahead is a preview: it says what would fire and writes nothing.
    ahead = (started + dt.timedelta(days=30)).isoformat()
    preview = await run_deployment_and_wait("escalation-sweep/escalation-sweep", {"as_of": ahead})
    assert preview.state.is_completed(), preview.state
    preview_log = await run_logs(preview.id)
    assert any(f"would fire director for {reference}" in line for line in preview_log), preview_log
    assert any("nothing was written" in line for line in preview_log)
    with deployed.store.transaction() as session:
        case_id = repo.get_case(session, reference).id
        assert not session.scalars(
            select(MilestoneEscalation).join(Milestone).where(Milestone.case_id == case_id)
        ).all()
    first = await run_deployment_and_wait("escalation-sweep/escalation-sweep", {})
    assert first.state.is_completed(), first.state

    with deployed.store.transaction() as session:
        case_id = repo.get_case(session, reference).id
        firings = session.scalars(
            select(MilestoneEscalation)
            .join(Milestone)
            .where(Milestone.case_id == case_id)
            .order_by(MilestoneEscalation.level_index)
        ).all()
        fired = [level for firing in firings for level in firing.levels]
    # The urgent ladder of the 72-hour assessment: due, program manager, director; one email, the top.
    assert fired == [("due", False), ("program-manager", False), ("director", True)]

    # The automation of the runners (the same as prefect.yaml's) dispatches the outbox at once.
    deadline = time.time() + 90
    while time.time() < deadline:
        overdue = [
            m for m in deployed.mail.parsed() if reference in m["Subject"] and "Overdue by" in m["Subject"]
        ]
        if overdue:
            break
        await asyncio.sleep(1)
    assert overdue, "the automation did not dispatch the escalation email"
    assert overdue[0]["To"] == "director@ngo.example"

    async with get_client() as client:
        deadline = time.time() + 30
        while True:  # the server stores events a moment after its automations have seen them
            # The client's default page size (100) is above the server's maximum (50).
            page = await client.read_events(
                filter=EventFilter(
                    occurred=EventOccurredFilter(since=started - dt.timedelta(minutes=1)),
                    event=EventNameFilter(name=["remediation.milestone.overdue"]),
                    related=EventRelatedFilter(id=[f"remediation.case.{reference}"]),
                ),
                limit=50,
            )
            if page.events or time.time() > deadline:
                break
            await asyncio.sleep(0.5)
        artifacts = await client.read_latest_artifacts()
    assert len(page.events) == 1
    event = page.events[0]
    assert event.payload["level"] == "director" and event.payload["step"] == "on_site_assessment"
    roles = {r.role for r in event.related}
    assert {"enterprise", "case", "site"} <= roles
    board = next(a for a in artifacts if a.key == "overdue-board")
    assert (
        any(row["case"] == reference for row in board.data)
        if isinstance(board.data, list)
        else reference in str(board.data)
    )

    second = await run_deployment_and_wait("escalation-sweep/escalation-sweep", {})
    assert second.state.is_completed()
    with deployed.store.transaction() as session:
        again = session.scalars(
            select(MilestoneEscalation).join(Milestone).where(Milestone.case_id == case_id)
        ).all()
    assert [level for firing in again for level in firing.levels] == fired


async def test_extension_and_withdrawal_from_their_deployments(deployed):
    reference = await open_case(deployed)
    case = Driver(reference)
    await case.wait("On-site assessment")
    with deployed.store.transaction() as session:
        before = session.scalar(select(Milestone.due_at).join(Case).where(Case.reference == reference))
    extension = await run_act_and_wait(
        "grant-an-extension/grant-an-extension",
        {
            "case_reference": reference,
            "step": "on_site_assessment",
            "granted_by": "lucia.fernandez@centro-mx.example",
            "working_days": 3,
        },
        reason="road closed by floods",
    )
    assert extension.state.is_completed(), extension.state
    with deployed.store.transaction() as session:
        after = session.scalar(select(Milestone.due_at).join(Case).where(Case.reference == reference))
        actions = [e.action for e in repo.audit_trail(session, repo.get_case(session, reference))]
    assert after > before and "deadline_extended" in actions

    # A hold needs no free text: the named reason is the form's, applied at once, no Resume needed.
    held = await run_deployment_and_wait(
        "hold-a-milestone/hold-a-milestone",
        {
            "case_reference": reference,
            "step": "on_site_assessment",
            "reason": "guardian_away",
            "held_by": "lucia.fernandez@centro-mx.example",
        },
    )
    assert held.state.is_completed(), held.state
    with deployed.store.reading() as session:
        assert (
            session.scalar(select(Milestone.held_since).join(Case).where(Case.reference == reference))
            is not None
        )
    released = await run_deployment_and_wait(
        "release-a-milestone/release-a-milestone",
        {
            "case_reference": reference,
            "step": "on_site_assessment",
            "released_by": "lucia.fernandez@centro-mx.example",
        },
    )
    assert released.state.is_completed(), released.state
    with deployed.store.reading() as session:
        assert (
            session.scalar(select(Milestone.held_since).join(Case).where(Case.reference == reference)) is None
        )
        actions = [e.action for e in repo.audit_trail(session, repo.get_case(session, reference))]
    assert {"milestone_held", "milestone_released"} <= set(actions), actions

    withdrawal = await run_act_and_wait(
        "withdraw-a-case/withdraw-a-case",
        {
            "case_reference": reference,
            "why": "duplicate",
            "withdrawn_by": "lucia.fernandez@centro-mx.example",
        },
        reason="same child as an earlier case",
    )
    assert withdrawal.state.is_completed(), withdrawal.state
    assert state_of(deployed, reference) == ("withdrawn", 1)
    from prefect.client.orchestration import get_client

    async with get_client() as client:
        lifecycle = await client.read_flow_run(case.run.id)
    assert lifecycle.state.is_cancelled()


async def test_recovery_starts_a_lifecycle_for_a_case_that_has_none_and_no_second_one(deployed):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterIdempotencyKey, FlowRunFilterTags

    from remediation_flows.core import casework as cw
    from remediation_flows.core.config import load_programme_document, load_programme_file
    from remediation_flows.core.due_diligence.reassessment import open_reassessments
    from remediation_flows.stack.answering import RunAnswerer, next_prompt

    # As if imported, or opened by a run that died before starting the lifecycle; under a programme
    # that reassesses a site where a case opens, so the case also opens the site's reassessment.
    plain = load_programme_file(EXAMPLES / "garment_brand.yaml")
    programme = load_programme_document(
        {
            **plain.document,
            "due_diligence": {**plain.document["due_diligence"], "reassess_site_on_new_case": True},
        }
    )
    orphan = cw.open_case(
        deployed.store,
        programme,
        cw.Notification(
            "northwind-apparel", "hcmc-sew-02", dt.datetime.now(dt.UTC), cw.Source.GRIEVANCE_CHANNEL
        ),
        actor="test",
    ).reference
    served = await open_case(deployed)
    await Driver(served).wait("On-site assessment")

    async def lifecycle_runs(reference: str) -> int:
        async with get_client() as client:
            runs = await client.read_flow_runs(
                flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(all_=[f"case:{reference}"]))
            )
        return len(runs)

    assert await lifecycle_runs(orphan) == 0
    run = await run_deployment_and_wait(
        "recover-case-lifecycles/recover-case-lifecycles", {"grace_minutes": 0}
    )
    assert run.state.is_completed(), run.state
    _, _, prompt = await next_prompt(orphan, None)
    assert "On-site assessment" in prompt and orphan in prompt
    assert await lifecycle_runs(served) == 1

    # The reassessment the orphan opened got its run too; answered, it closes the milestone.
    [reassessment] = [r for r in open_reassessments(deployed.store) if r.site_id == "hcmc-sew-02"]
    async with get_client() as client:
        [reassessing] = await client.read_flow_runs(
            flow_run_filter=FlowRunFilter(
                idempotency_key=FlowRunFilterIdempotencyKey(any_=[reassessment.key])
            )
        )
    description = await RunAnswerer(reassessing.id).answer(
        "Risk reassessment of site hcmc-sew-02",
        {
            "answered_by": "vn.compliance@northwind-apparel.example",
            "workers_under_18_percent": 4,
            "age_verification": "documents_checked",
            "uses_labour_agents": True,
            "uses_subcontractors": False,
            "student_or_vocational_workers": False,
            "dormitories": False,
            "cases_last_3_years": 1,
            "audit_findings_child_labour": 0,
        },
    )
    assert "enterprise focal point" in description
    deadline = time.time() + 60
    while reassessment in open_reassessments(deployed.store) and time.time() < deadline:
        await asyncio.sleep(0.5)
    assert reassessment not in open_reassessments(deployed.store)
    with deployed.store.reading() as session:
        audit = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "site_reassessed").order_by(AuditEvent.id.desc())
        ).first()
    assert audit.actor == "vn.compliance@northwind-apparel.example"
    assert audit.details["milestone"] == reassessment.key
