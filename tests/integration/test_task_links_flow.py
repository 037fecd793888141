"""A plan acceptance, an enrolment (with its letter) and a stipend payment answered only through the
links in the focal point's emails, in Chromium.

Real Prefect server, served deployments, real aiosmtpd sink and PostgreSQL; the task page runs on
the port the served flows' emails link to. The page applies each answer in the case store within
its request (the store shows the next step when the page says thank you); the run catches up
behind it without applying the step again. Prints the page's time to first byte, the time from
Submit to the store showing the next step and to the run's next suspension.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime as dt
import hashlib
import os
import re
import threading
import time
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select

from remediation_flows.core.store import repository as repo
from remediation_flows.core.store.schema import (
    Approval,
    AuditEvent,
    EvidenceFile,
    Milestone,
    OutboxMessage,
    StipendInstalment,
    StipendPayment,
    TaskLink,
)
from remediation_flows.stack.answering import CaseAnswerer, next_prompt
from tests.integration.conftest import TASK_PAGE_PORT, run_act_and_wait, run_deployment_and_wait
from tests.integration.test_remediation_flows import dispatch_mail, open_case

pytestmark = pytest.mark.prefect
CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.exists():
    if os.environ.get("CI"):
        raise RuntimeError("CI needs Debian's chromium at /usr/bin/chromium (.ci/run installs it)")
    pytest.skip("no /usr/bin/chromium here: apt-get install -y chromium", allow_module_level=True)

CASE_MANAGER = "rahim.uddin@ngo.example"
SUPERVISOR = "chen.jing@ngo.example"
FOCAL_POINT = "compliance@northwind-apparel.example"
LINK = r"http://127\.0\.0\.1:\d+/tasks/CL-\d{{4}}-\d{{6}}/{step}/[A-Za-z0-9_-]+"
#: An enrolment letter as the school scanned it (only its first bytes matter: %PDF).
PDF = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n"


@pytest.fixture
def task_page(deployed, monkeypatch):
    import uvicorn

    from remediation_flows.task_page.app import TaskPage, create_app

    # The page applies answers itself, and the acts it applies email the next step's links: they
    # must point here, as the served flows' do (remediate up gives its page the same variable).
    monkeypatch.setenv("REMEDIATION_TASK_PAGE_URL", f"http://127.0.0.1:{TASK_PAGE_PORT}")

    server = uvicorn.Server(
        uvicorn.Config(
            create_app(TaskPage(deployed.store)),
            host="127.0.0.1",
            port=TASK_PAGE_PORT,
            access_log=False,
            log_level="warning",
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 20
    while not server.started:
        assert time.time() < deadline, "the task page did not start"
        time.sleep(0.1)
    yield f"http://127.0.0.1:{TASK_PAGE_PORT}"
    server.should_exit = True
    thread.join(timeout=10)


def in_thread(coroutine):
    """Run a coroutine to completion beside Playwright's own event loop."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


@pytest.fixture
def browser_page(tmp_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
            ],
        )
        page = browser.new_page()
        page.set_default_timeout(30_000)
        try:
            yield page
        finally:
            page.screenshot(path=str(tmp_path / "last.png"))
            browser.close()


async def run_inputs(run_id, prefix: str) -> list[str]:
    """The keys of the run's inputs that start with ``prefix``."""
    from prefect.client.orchestration import get_client

    async with get_client() as client:
        found = await client.filter_flow_run_input(run_id, key_prefix=prefix, limit=100, exclude_keys=set())
    return [stored.key for stored in found]


def link_in_mail(deployed, reference: str, recipient: str, step: str = "remediation_plan") -> str:
    """The newest link to the case's ``step`` task emailed to ``recipient``."""
    link = re.compile(LINK.format(step=step))
    for message in reversed(in_thread(dispatch_mail(deployed))):
        if message["To"] == recipient and reference in message["Subject"]:
            match = link.search(message.get_body(preferencelist=("plain",)).get_content())
            if match:
                return match.group(0)
    raise AssertionError(f"no email to {recipient} with a task link for {reference}")


def test_plan_enrolment_and_stipend_answered_by_the_links_in_the_emails(
    deployed, task_page, browser_page, tmp_path
):
    page = browser_page
    reference = in_thread(open_case(deployed, enterprise="northwind-apparel", site="dhaka-knit-01"))
    case = CaseAnswerer(reference)
    in_thread(
        case.answer(
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
    )
    in_thread(
        case.answer(
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
    )
    in_thread(
        case.answer(
            "Approve remediation plan",
            {"answered_by": SUPERVISOR, "role": "supervisor", "approved": True},
        )
    )
    # Staff in the UI cannot give the focal point's approval under a role its giver does not hold.
    in_thread(
        case.answer(
            "awaiting: enterprise focal point",
            {"answered_by": SUPERVISOR, "role": "enterprise_focal_point", "approved": True},
        )
    )
    description = in_thread(case.wait("awaiting: enterprise focal point"))
    assert f"{SUPERVISOR} does not hold the role enterprise_focal_point" in description
    waiting_key = case.key

    # A lost link is re-issued with the UI's act: a new one is emailed and the old one stops working.
    lost = link_in_mail(deployed, reference, FOCAL_POINT)
    reissued = in_thread(
        run_act_and_wait(
            "re-issue-a-task-link/re-issue-a-task-link",
            {
                "case_reference": reference,
                "step": "remediation_plan",
                "recipient_email": FOCAL_POINT,
                "reissued_by": SUPERVISOR,
            },
            reason="the focal point deleted the email",
        )
    )
    assert reissued.state.is_completed(), reissued.state
    url = link_in_mail(deployed, reference, FOCAL_POINT)
    assert url != lost
    void = page.goto(lost)
    assert void is not None and void.status == 410
    assert url.startswith(task_page)
    response = page.goto(url)
    assert response is not None and response.status == 200
    timing = response.request.timing
    first_byte_ms = timing["responseStart"] - timing["requestStart"]
    page.get_by_text("Dhaka").first.wait_for()
    body = page.inner_text("body")
    assert reference in body and "Gazipur knitwear factory (dhaka-knit-01)" in body
    assert f"{FOCAL_POINT} (enterprise focal point)" in body
    page.get_by_role("checkbox", name="Approved").check()
    page.locator("textarea[name=comment], input[name=comment]").fill("Agreed; the supplier pays.")
    submitted = time.perf_counter()
    page.get_by_role("button", name="Submit").click()
    page.get_by_text("Thank you").wait_for()
    to_store = time.perf_counter() - submitted
    # Applied within the request: the page names the next step, and the store holds it already.
    done = page.inner_text("body")
    assert "The case now waits for:" in done and "School reintegration" in done, done
    with deployed.store.reading() as session:
        assert repo.get_case(session, reference).state == "school_reintegration"
    run, key, next_description = in_thread(next_prompt(reference, waiting_key))
    to_next_suspension = time.perf_counter() - submitted
    assert "School reintegration" in next_description, next_description
    print(
        f"\ntask page time to first byte: {first_byte_ms:.0f} ms; Submit to the store's next step "
        f"(the done page): {to_store:.2f} s; Submit to the run's next suspension: {to_next_suspension:.1f} s"
    )
    # The run caught up without applying the step again: one acceptance, one move, one task email
    # per recipient of the next step, and the answer it was resumed with is gone from Prefect.
    with deployed.store.reading() as session:
        case_row = repo.get_case(session, reference)
        actions = session.scalars(select(AuditEvent.action).where(AuditEvent.case_id == case_row.id)).all()
        moves = session.scalars(
            select(AuditEvent.details).where(
                AuditEvent.case_id == case_row.id, AuditEvent.action == "case_state_changed"
            )
        ).all()
        enrolment_mail = session.scalars(
            select(OutboxMessage.recipients)
            .join(Milestone, Milestone.id == OutboxMessage.milestone_id)
            .where(Milestone.case_id == case_row.id, Milestone.kind == "school_reintegration")
        ).all()
    assert actions.count("plan_accepted") == 1 and actions.count("task_link_used") == 1
    assert sum(1 for details in moves if "school_reintegration" in str(details)) == 1, moves
    assert enrolment_mail and len({tuple(r) for r in enrolment_mail}) == len(enrolment_mail), enrolment_mail
    assert in_thread(run_inputs(run.id, f"suspended-{waiting_key}-response")) == []

    with deployed.store.transaction() as session:
        case_row = repo.get_case(session, reference)
        assert case_row.state == "school_reintegration"
        approval = session.scalars(
            select(Approval).where(Approval.case_id == case_row.id, Approval.role == "enterprise_focal_point")
        ).one()
        assert (approval.status, approval.decided_for, approval.verified) == ("approved", FOCAL_POINT, True)
        assert approval.decided_by == FOCAL_POINT
        supervisor = session.scalars(
            select(Approval).where(Approval.case_id == case_row.id, Approval.role == "supervisor")
        ).one()
        assert (supervisor.decided_for, supervisor.verified) == (SUPERVISOR, False)
        assert supervisor.decided_by == f"entered in the Prefect UI by {SUPERVISOR}"
        used = session.scalars(
            select(TaskLink).where(TaskLink.case_id == case_row.id, TaskLink.state == "used")
        ).one()
        assert (used.recipient, used.role, used.answered_key) == (
            FOCAL_POINT,
            "enterprise_focal_point",
            waiting_key,
        )
        refused = session.scalars(
            select(AuditEvent).where(AuditEvent.case_id == case_row.id, AuditEvent.action == "input_refused")
        ).all()
        assert len(refused) == 1 and "does not hold the role enterprise_focal_point" in refused[0].reason

    # The link works once: a second visit is refused with 410 and changes nothing.
    again = page.goto(url)
    assert again is not None and again.status == 410

    # Enrolment: the school-reintegration link, answered with the enrolment letter, a PDF.
    enrolment = link_in_mail(deployed, reference, FOCAL_POINT, "school_reintegration")
    assert page.goto(enrolment).status == 200
    page.locator("input[name=effective_on]").fill(dt.date.today().isoformat())
    page.locator("[name=evidence_reference]").fill("ENR-2026-0042")
    letter = tmp_path / "letter.pdf"
    letter.write_bytes(PDF)
    page.locator("input[name=evidence_file]").set_input_files(str(letter))
    page.get_by_role("button", name="Submit").click()
    page.get_by_text("Thank you").wait_for()
    _, _, next_description = in_thread(next_prompt(reference, key))
    assert "Follow-up visit 1" in next_description, next_description

    # The first month's stipend: the payment link, confirmed by the payer with its reference.
    payment = link_in_mail(deployed, reference, FOCAL_POINT, "stipend_payment")
    assert page.goto(payment).status == 200
    page.locator("input[name=amount]").fill("8000")
    page.locator("[name=currency]").fill("BDT")
    page.locator("input[name=paid_on]").fill(dt.date.today().isoformat())
    page.locator("[name=payment_reference]").fill("BKASH-TX-8812")
    page.get_by_role("button", name="Submit").click()
    page.get_by_text("Thank you").wait_for()

    with deployed.store.reading() as session:
        case_row = repo.get_case(session, reference)
        assert case_row.state == "monitoring"
        [letter_row] = session.scalars(select(EvidenceFile).where(EvidenceFile.case_id == case_row.id)).all()
        assert (letter_row.uploaded_by, letter_row.verified, letter_row.step) == (
            FOCAL_POINT,
            True,
            "school_reintegration",
        )
        assert letter_row.sha256 == hashlib.sha256(PDF).hexdigest()
        [paid] = session.scalars(
            select(StipendPayment)
            .join(StipendInstalment, StipendInstalment.id == StipendPayment.instalment_id)
            .where(StipendInstalment.case_id == case_row.id)
        ).all()
        assert (paid.amount, paid.currency, paid.payment_reference) == (
            Decimal("8000.00"),
            "BDT",
            "BKASH-TX-8812",
        )
        assert (paid.confirmed_for, paid.verified, paid.task_link_id is not None) == (FOCAL_POINT, True, True)


async def case_awaiting_the_focal_point(deployed) -> tuple[str, CaseAnswerer]:
    """A Dhaka case whose run waits on the focal point's approval of its plan (staff gave the rest)."""
    reference = await open_case(deployed, enterprise="northwind-apparel", site="dhaka-knit-01")
    case = CaseAnswerer(reference)
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
    await case.answer(
        "Approve remediation plan", {"answered_by": SUPERVISOR, "role": "supervisor", "approved": True}
    )
    await case.wait("awaiting: enterprise focal point")
    return reference, case


def answer_with_prefect_unreachable(deployed, url: str) -> None:
    """Approve through the link on a task page that cannot reach Prefect: applied, nothing resumed."""
    from fastapi.testclient import TestClient

    from remediation_flows.task_page.app import TaskPage, WaitingRun, create_app

    def unreachable(reference: str) -> list[WaitingRun]:
        raise ConnectionError("the Prefect API cannot be reached")

    browser = TestClient(
        create_app(TaskPage(deployed.store, find_runs=unreachable, resume_backoff=(0.0, 0.0, 0.0)))
    )
    path = re.sub(r"^https?://[^/]+", "", url)
    form = browser.get(path)
    csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', form.text)
    assert form.status_code == 200 and csrf is not None, form.text
    done = browser.post(path, data={"csrf": csrf.group(1), "approved": "true"})
    assert done.status_code == 200 and "School reintegration" in done.text, done.text


def actions_of(deployed, reference: str) -> list[tuple[str, str | None]]:
    with deployed.store.reading() as session:
        case_row = repo.get_case(session, reference)
        return list(
            session.execute(
                select(AuditEvent.action, AuditEvent.reason)
                .where(AuditEvent.case_id == case_row.id)
                .order_by(AuditEvent.id)
            )
        )


def test_an_answer_applied_while_prefect_was_unreachable_reaches_its_run_through_recovery(
    deployed, monkeypatch
):
    monkeypatch.setenv("REMEDIATION_TASK_PAGE_URL", f"http://127.0.0.1:{TASK_PAGE_PORT}")
    reference, case = in_thread(case_awaiting_the_focal_point(deployed))
    waiting_key = case.key
    answer_with_prefect_unreachable(deployed, link_in_mail(deployed, reference, FOCAL_POINT))
    with deployed.store.reading() as session:
        assert repo.get_case(session, reference).state == "school_reintegration"
    assert in_thread(case_run_state(case.run.id)) == ("PAUSED", waiting_key), "nothing resumed it yet"

    recovery = in_thread(
        run_deployment_and_wait("recover-case-lifecycles/recover-case-lifecycles", {"grace_minutes": 0})
    )
    assert recovery.state.is_completed(), recovery.state
    _, _, description = in_thread(next_prompt(reference, waiting_key))
    assert "School reintegration" in description, description
    actions = [action for action, _ in actions_of(deployed, reference)]
    assert actions.count("plan_accepted") == 1 and "input_refused" not in actions
    assert in_thread(run_inputs(case.run.id, f"suspended-{waiting_key}-response")) == []


def test_a_ui_answer_that_crossed_the_links_is_refused_and_audited_not_applied(deployed, monkeypatch):
    monkeypatch.setenv("REMEDIATION_TASK_PAGE_URL", f"http://127.0.0.1:{TASK_PAGE_PORT}")
    reference, case = in_thread(case_awaiting_the_focal_point(deployed))
    waiting_key = case.key
    answer_with_prefect_unreachable(deployed, link_in_mail(deployed, reference, FOCAL_POINT))
    # Staff, on the run's stale Resume dialog, record the focal point's decision as a rejection.
    in_thread(
        case.answer(
            "awaiting: enterprise focal point",
            {
                "answered_by": CASE_MANAGER,
                "role": "enterprise_focal_point",
                "approved": False,
                "comment": "rejected by phone",
                "on_behalf_of": FOCAL_POINT,
                "on_behalf_reason": "said so by phone",
            },
        )
    )
    _, _, description = in_thread(next_prompt(reference, waiting_key))
    assert "School reintegration" in description, description
    audit = actions_of(deployed, reference)
    actions = [action for action, _ in audit]
    assert actions.count("plan_accepted") == 1 and "plan_rejected" not in actions
    [refusal] = [reason for action, reason in audit if action == "input_refused"]
    assert f"already answered through the task link of {FOCAL_POINT}" in refusal
    with deployed.store.reading() as session:
        assert repo.get_case(session, reference).state == "school_reintegration"
    assert in_thread(run_inputs(case.run.id, f"suspended-{waiting_key}-response")) == []


async def case_run_state(run_id) -> tuple[str, str | None]:
    from prefect.client.orchestration import get_client

    async with get_client() as client:
        run = await client.read_flow_run(run_id)
    return run.state.type.value, run.state.state_details.pause_key
