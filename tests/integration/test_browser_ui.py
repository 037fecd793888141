"""A person in the Prefect UI: open a case from the deployment's form, answer the assessment from Resume."""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import re
import time
from pathlib import Path

import pytest

from tests.conftest import PREFECT_PORT

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = pytest.mark.prefect

if not CHROMIUM.exists():
    if os.environ.get("CI"):
        raise RuntimeError("CI needs Debian's chromium at /usr/bin/chromium (.ci/run installs it)")
    pytest.skip("no /usr/bin/chromium here: apt-get install -y chromium", allow_module_level=True)

UI = f"http://127.0.0.1:{PREFECT_PORT}"


def in_thread(coroutine):
    """Run a coroutine to completion beside Playwright's own event loop."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def field(page, label: str):
    """The schema-form property whose title is ``label`` (the innermost one)."""
    title = page.locator(
        "span.schema-form-property__label", has_text=re.compile("^" + re.escape(label) + r"( \(Optional\))?$")
    )
    return page.locator("div.schema-form-property").filter(has=title).last


def choose(page, label: str, option: str) -> None:
    field(page, label).locator("button.p-select-button__control").focus()
    page.keyboard.press("ArrowDown")
    page.get_by_role("option", name=option, exact=True).click()


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
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(30_000)
        try:
            yield page
        finally:
            page.screenshot(path=str(tmp_path / "last.png"))
            browser.close()


def test_open_a_case_and_resume_the_assessment_from_the_ui(deployed, browser_page):
    from remediation_flows.core.store import repository as repo
    from remediation_flows.stack.answering import next_prompt

    page = browser_page
    with deployed.store.transaction() as session:
        from sqlalchemy import func, select

        from remediation_flows.core.store.schema import Case

        cases_before = session.scalar(select(func.count()).select_from(Case))

    page.goto(f"{UI}/deployments")
    page.get_by_text("open-a-case", exact=True).first.click()
    page.get_by_role("button", name="Run", exact=True).click()
    page.get_by_text("Custom run").click()
    field(page, "Enterprise").locator("textarea, input").first.fill("northwind-apparel")
    field(page, "Site / work unit").locator("textarea, input").first.fill("dhaka-knit-01")
    choose(page, "Source of the report", "grievance_channel")
    field(page, "Your name or email").locator("textarea, input").first.fill("li.wen@ngo.example")
    page.get_by_role("button", name="Submit").click()

    deadline = time.time() + 60
    while time.time() < deadline:
        with deployed.store.transaction() as session:
            if session.scalar(select(func.count()).select_from(Case)) > cases_before:
                break
        time.sleep(0.5)
    reference = deployed.newest_case()
    with deployed.store.transaction() as session:
        assert repo.get_case(session, reference).source == "grievance_channel"

    run, _, _ = in_thread(next_prompt(reference, None))
    page.goto(f"{UI}/runs/flow-run/{run.id}")
    page.get_by_role("button", name="Resume").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_text("On-site assessment: verify the age").wait_for()
    assert reference in dialog.inner_text()
    field(page, "Your name or email").locator("textarea, input").first.fill("rahim.uddin@ngo.example")
    field(page, "Verified age (years)").locator("input").first.fill("13")
    choose(page, "How the age was verified", "school_records")
    choose(page, "Outcome", "child_labourer")
    for toggle in (
        "The child was removed from all work",
        "The child is in a safe place",
        "The child consents",
        "The guardian consents",
    ):
        switch = field(page, toggle).get_by_role("switch")
        switch.click()
        assert switch.get_attribute("aria-checked") == "true"
    with page.expect_response(lambda r: "/resume" in r.url) as resumed:
        dialog.get_by_role("button", name="Submit").click()
    response = resumed.value
    assert response.ok and '"ACCEPT"' in response.text(), response.text()

    deadline = time.time() + 60
    while time.time() < deadline:
        with deployed.store.transaction() as session:
            case = repo.get_case(session, reference)
            if case.state == "remediation_plan":
                break
        time.sleep(0.5)
    with deployed.store.transaction() as session:
        case = repo.get_case(session, reference)
        assert case.state == "remediation_plan"
        moved = [e for e in repo.audit_trail(session, case) if e.action == "case_state_changed"]
        assert (moved[-1].details["to"], moved[-1].actor) == ("remediation_plan", "rahim.uddin@ngo.example")

    # The case's artifact, as a person sees it in the UI: its newest version shows the new stage.
    key = f"case-{reference.lower()}"
    deadline = time.time() + 30
    text = ""
    while time.time() < deadline:
        page.goto(f"{UI}/artifacts/key/{key}")
        page.get_by_text(f"Created {key}").wait_for()
        page.get_by_text(re.compile(r"^[0-9a-f]{8}$")).first.click()
        page.wait_for_url(re.compile(r"/artifacts/artifact/"))
        page.get_by_text("Stage:").first.wait_for()
        text = page.inner_text("body")
        if "remediation plan" in text:
            break
        time.sleep(1)
    assert "Stage: remediation plan (round 1)" in text
    assert "Waiting on: case manager: Remediation plan" in text
