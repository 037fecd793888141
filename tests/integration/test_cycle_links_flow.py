"""A due-diligence cycle's question answered only through the personal link in the focal point's email.

Real Prefect server, served deployments, real aiosmtpd sink and PostgreSQL; the task page runs on
the port the served flows' emails link to, and is driven with httpx as a browser would (GET the
page, POST its form with its cookie). The enterprise is the garment brand's programme saved under
a block of its own, ``northwind-links``, whose Dhaka site reads Bengali. Prints the page's time to
first byte and the time from Submit to the run's next suspension.
"""

from __future__ import annotations

import asyncio
import copy
import re
import threading
import time
from typing import Any

import httpx
import pytest
from markupsafe import escape
from sqlalchemy import select

from remediation_flows.core.mail.i18n import words
from remediation_flows.core.store.schema import (
    AuditEvent,
    DueDiligenceCycle,
    SiteRiskAssessment,
    TaskLink,
)
from tests.conftest import EXAMPLES
from tests.integration.conftest import TASK_PAGE_PORT, run_act_and_wait
from tests.integration.test_remediation_flows import dispatch_mail

pytestmark = pytest.mark.prefect

ENTERPRISE = "northwind-links"
YEAR = 2032  # a year no other test uses
REFERENCE = f"DD-{ENTERPRISE}-{YEAR}"
PM = "li.wen@ngo.example"
DHAKA_FOCAL_POINT = "compliance@northwind-apparel.example"
VN_FOCAL_POINT = "vn.compliance@northwind-apparel.example"
LINK = r"http://127\.0\.0\.1:\d+/cycle/" + REFERENCE + r"/{question}/[A-Za-z0-9_-]+"


def save_enterprise_block() -> None:
    """The garment brand's programme as enterprise ``northwind-links``, its Dhaka site in Bengali."""
    from remediation_flows.blocks import EnterpriseProgramme
    from remediation_flows.core.config.loader import parse_yaml

    path = EXAMPLES / "garment_brand.yaml"
    document = copy.deepcopy(parse_yaml(path.read_text(encoding="utf-8"), str(path)))
    document["enterprise"]["id"] = ENTERPRISE
    next(site for site in document["sites"] if site["id"] == "dhaka-knit-01")["language"] = "bn"
    EnterpriseProgramme(programme=document).save(ENTERPRISE, overwrite=True)


@pytest.fixture
def task_page(deployed):
    import uvicorn

    from remediation_flows.task_page.app import TaskPage, create_app

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


async def next_suspension(run_id: Any, previous_key: str | None, timeout: float = 90) -> tuple[str, str]:
    """Wait until the run is suspended under a new key; returns (key, the Resume dialog's text)."""
    from prefect.client.orchestration import get_client
    from prefect.exceptions import PrefectHTTPStatusError

    deadline = time.time() + timeout
    async with get_client() as client:
        while time.time() < deadline:
            run = await client.read_flow_run(run_id)
            state = run.state
            if state and state.is_paused() and state.state_details.pause_key != previous_key:
                try:
                    description = await client.read_flow_run_input(
                        run.id, state.state_details.run_input_keyset["description"]
                    )
                except PrefectHTTPStatusError:
                    await asyncio.sleep(0.2)
                    continue
                return state.state_details.pause_key, description
            assert not (state and state.is_final()), f"the cycle's run ended: {state}"
            await asyncio.sleep(0.2)
    raise AssertionError(f"the cycle's run did not suspend anew within {timeout:.0f} s")


def links_in_mail(deployed, recipient: str, question: str) -> list[str]:
    """Every link to ``question`` of the cycle emailed to ``recipient`` so far, oldest first."""
    link = re.compile(LINK.format(question=question))
    found = []
    for message in asyncio.run(dispatch_mail(deployed)):
        if message["To"] == recipient and REFERENCE in message["Subject"]:
            match = link.search(message.get_body(preferencelist=("plain",)).get_content())
            if match:
                found.append(match.group(0))
    return found


def test_a_cycle_question_answered_only_by_the_link_in_the_email(deployed, task_page):
    from prefect.deployments import run_deployment

    save_enterprise_block()
    run = run_deployment(
        "due-diligence-cycle/due-diligence-cycle",
        parameters={"enterprise_id": ENTERPRISE, "year": YEAR, "started_by": PM},
        timeout=0,
        as_subflow=False,
    )
    key, description = asyncio.run(next_suspension(run.id, None))
    assert "Risk assessment of site dhaka-knit-01" in description, description

    # One site at a time: the Dhaka focal point has a link; the Viet Nam site's is not sent yet.
    [url] = links_in_mail(deployed, DHAKA_FOCAL_POINT, "risk-dhaka-knit-01")
    assert url.startswith(task_page)
    assert links_in_mail(deployed, VN_FOCAL_POINT, "risk-hcmc-sew-02") == []

    with httpx.Client(timeout=30) as browser:
        page = browser.get(url)
        # httpx's elapsed runs from sending the request to reading the response's headers.
        first_byte_ms = page.elapsed.total_seconds() * 1000
        assert page.status_code == 200, page.text
        html = page.text
        assert 'lang="bn"' in html and REFERENCE in html and "(dhaka-knit-01)" in html
        assert 'name="workers_under_18_percent"' in html and 'name="answered_by"' not in html
        csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', html).group(1)
        submitted = time.perf_counter()
        done = browser.post(
            url,
            data={
                "csrf": csrf,
                "workers_under_18_percent": "2",
                "age_verification": "verified_with_authority",
                "cases_last_3_years": "0",
                "audit_findings_child_labour": "0",
            },
        )
        assert done.status_code == 200, done.text
        next_key, next_description = asyncio.run(next_suspension(run.id, key))
        to_next_suspension = time.perf_counter() - submitted
        assert "Risk assessment of site hcmc-sew-02" in next_description, next_description
        print(
            f"\ncycle task page time to first byte: {first_byte_ms:.0f} ms; "
            f"Submit to the run's next suspension: {to_next_suspension:.1f} s"
        )

        # The link works once: a second visit is refused in its recipient's language (Bengali).
        again = browser.get(url, headers={"Accept-Language": "es"})
        assert again.status_code == 410
        assert str(escape(words("bn")["refusal.gone.title"])) in again.text and 'lang="bn"' in again.text

    with deployed.store.reading() as session:
        [assessment] = session.scalars(
            select(SiteRiskAssessment)
            .join(DueDiligenceCycle, DueDiligenceCycle.id == SiteRiskAssessment.cycle_id)
            .where(DueDiligenceCycle.enterprise_id == ENTERPRISE, DueDiligenceCycle.year == YEAR)
        ).all()
        assert assessment.assessed_by == DHAKA_FOCAL_POINT
        assert assessment.answers["workers_under_18_percent"] == "2.0"
        [used] = session.scalars(
            select(TaskLink).where(TaskLink.cycle_id == assessment.cycle_id, TaskLink.state == "used")
        ).all()
        assert (used.recipient, used.role, used.answered_key, used.site_id) == (
            DHAKA_FOCAL_POINT,
            "enterprise_focal_point",
            key,
            "dhaka-knit-01",
        )
        audited = session.scalars(
            select(AuditEvent).where(
                AuditEvent.action == "site_risk_assessed", AuditEvent.entity_id == REFERENCE
            )
        ).one()
        assert audited.actor == DHAKA_FOCAL_POINT

    # Now the next site's question goes out, to its own focal point.
    [next_url] = links_in_mail(deployed, VN_FOCAL_POINT, "risk-hcmc-sew-02")
    assert next_url != url and next_key

    # A lost link is re-issued with the UI's act (the reason given in its Resume dialog): a new one is
    # emailed, the old one stops working, and the audit trail says who and why.
    reissued = asyncio.run(
        run_act_and_wait(
            "re-issue-a-cycle-task-link/re-issue-a-cycle-task-link",
            {
                "cycle_reference": REFERENCE,
                "question": "risk-hcmc-sew-02",
                "recipient_email": VN_FOCAL_POINT,
                "reissued_by": PM,
            },
            reason="the focal point deleted the email",
        )
    )
    assert reissued.state.is_completed(), reissued.state
    lost, new_url = links_in_mail(deployed, VN_FOCAL_POINT, "risk-hcmc-sew-02")[-2:]
    assert lost == next_url and new_url != lost
    with httpx.Client(timeout=30) as browser:
        assert browser.get(lost).status_code == 410
        assert browser.get(new_url).status_code == 200
    with deployed.store.reading() as session:
        audited = session.scalars(
            select(AuditEvent).where(AuditEvent.action.like("%reissued%")).order_by(AuditEvent.id.desc())
        ).first()
        assert audited is not None and audited.actor == PM
        assert audited.reason and "deleted the email" in audited.reason
