"""A program manager in the Prefect UI of a stack started as `remediate up` starts it, with its auth.

Log in with the stack's auth string; look at an enterprise programme on the Blocks page (a form of
numbered slots, not a line of JSON) and edit a site's name there; open a case choosing the enterprise
and site from the form's lists; find the new wait in the case manager's inbox artifact and follow its
link to the run; answer the assessment in the Resume dialog, choosing words; see the run renamed to
the next wait.

Every screenshot is saved in test-artifacts/screenshots/ (git-ignored; CI keeps it as an artifact),
so that a person can see what the test saw.
"""

from __future__ import annotations

import os
import re
import sqlite3
import time
from pathlib import Path

import pytest

from remediation_flows.core.choices import word_for
from tests.remediate_up import remediate_up

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
SCHEDULES_OFF = {"REMEDIATION_SWEEP_SECONDS": "0", "REMEDIATION_DISPATCH_SECONDS": "0"}
pytestmark = pytest.mark.prefect

if not CHROMIUM.exists():
    if os.environ.get("CI"):
        raise RuntimeError("CI needs Debian's chromium at /usr/bin/chromium (.ci/run installs it)")
    pytest.skip("no /usr/bin/chromium here: apt-get install -y chromium", allow_module_level=True)


def field(page, label: str):
    """The schema-form property whose title is ``label`` (the innermost one)."""
    title = page.locator(
        "span.schema-form-property__label", has_text=re.compile("^" + re.escape(label) + r"( \(Optional\))?$")
    )
    return page.locator("div.schema-form-property").filter(has=title).last


def block_field(page, label: str):
    """The Blocks page's form property whose title is ``label`` (the innermost one)."""
    title = page.locator(
        "label.p-label__label > span", has_text=re.compile("^" + re.escape(label) + r"( \(Optional\))?$")
    )
    return page.locator("div.schema-form-property").filter(has=title).last


def choose(page, label: str, option: str) -> None:
    """Pick ``option`` from the select of the field ``label``, as a person does with the keyboard."""
    field(page, label).locator("button.p-select-button__control").focus()
    page.keyboard.press("ArrowDown")
    page.get_by_role("option", name=option, exact=True).click()


def shot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def wait_until(what: str, check, seconds: float = 90):
    deadline = time.time() + seconds
    while time.time() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.5)
    raise AssertionError(f"timed out after {seconds:.0f} s waiting for {what}")


def case_row(stack, reference: str) -> tuple[str, str | None]:
    with sqlite3.connect(f"file:{stack.home / 'remediation.db'}?mode=ro", uri=True) as connection:
        return connection.execute(
            "SELECT state, source FROM cases WHERE reference = ?", (reference,)
        ).fetchone()


def waiting_run(api, reference: str) -> dict | None:
    """The case's lifecycle run while it is suspended, from the stack's API."""
    runs = api.post(
        "/flow_runs/filter", json={"flow_runs": {"tags": {"all_": [f"case:{reference}"]}}, "limit": 10}
    ).json()
    return next((run for run in runs if run["state"] and run["state"]["type"] == "PAUSED"), None)


@pytest.fixture
def stack(tmp_path):
    with remediate_up(tmp_path / "var", tmp_path / "remediate-up.log", SCHEDULES_OFF) as running:
        yield running


@pytest.fixture
def browser_page():
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
            shot(page, "last")
            browser.close()


def test_a_program_manager_opens_a_case_and_answers_it_from_the_inbox(stack, browser_page):
    page, ui = browser_page, stack.api_url.removesuffix("/api")

    # Log in: the UI asks for the stack's auth string, as the README says.
    page.goto(ui + "/dashboard")
    page.get_by_placeholder("admin:pass").fill(stack.auth_string)
    shot(page, "01-login")
    page.get_by_role("button", name="Login").click()
    page.wait_for_url(re.compile(r"/dashboard"))

    # The programme block is a form of its parts, not one line of JSON.
    with stack.api() as api:
        documents = api.post(
            "/block_documents/filter",
            json={"block_types": {"slug": {"any_": ["enterprise-programme"]}}, "limit": 10},
        ).json()
    block_id = next(d["id"] for d in documents if d["name"] == "northwind-apparel")
    page.goto(f"{ui}/blocks/block/{block_id}/edit")
    # Its parts and their numbered slots are labelled as a person reads them.
    for label in ("Enterprise name", "Case manager 2 email", "Site 2 name", "Ladder 1 level 2 notify"):
        block_field(page, label).locator("visible=true").first.wait_for()
    shot(page, "02-programme-block-form")
    # A site's name is a field of its own: edit it and save, as a program manager does.
    site_name = block_field(page, "Site 2 name").locator("textarea, input").first
    site_name.scroll_into_view_if_needed()
    assert site_name.input_value() == "Binh Duong sewing unit"
    site_name.fill("Binh Duong sewing unit (new building)")
    shot(page, "02b-programme-block-site-edited")
    with page.expect_response(
        lambda r: f"/block_documents/{block_id}" in r.url and r.request.method == "PATCH"
    ) as saved:
        page.get_by_role("button", name="Save").click()
    assert saved.value.ok, saved.value.text()

    from remediation_flows.blocks.enterprise_programme import programme_from_block_data
    from remediation_flows.blocks.programme_form import from_form
    from remediation_flows.core.config.loader import read_yaml_file
    from tests.conftest import EXAMPLES

    with stack.api() as api:
        stored = api.get(f"/block_documents/{block_id}").json()["data"]
    # Checked as a flow checks it when it loads the block: the page kept the programme valid ...
    edited = programme_from_block_data(stored, "block enterprise-programme/northwind-apparel")
    assert edited.site("hcmc-sew-02").name == "Binh Duong sewing unit (new building)"
    # ... and changed nothing else of it.
    expected = read_yaml_file(EXAMPLES / "garment_brand.yaml")
    expected["sites"][1]["name"] = "Binh Duong sewing unit (new building)"
    assert from_form(stored) == expected

    # Open a case: enterprise, site and source are lists of words (once the runner has registered it).
    with stack.api() as api:
        wait_until(
            "open-a-case to offer the programmes",
            lambda: (
                "enum"
                in api.get("/deployments/name/open-a-case/open-a-case")
                .json()
                .get("parameter_openapi_schema", {})
                .get("definitions", {})
                .get("CaseNotification", {})
                .get("properties", {})
                .get("enterprise_id", {})
            ),
        )
    page.goto(ui + "/deployments")
    page.get_by_text("open-a-case", exact=True).first.click()
    page.get_by_role("button", name="Run", exact=True).click()
    page.get_by_text("Custom run").click()
    choose(page, "Enterprise", "Northwind Apparel Ltd (northwind-apparel)")
    choose(page, "Site / work unit", "Northwind Apparel Ltd: Gazipur knitwear factory, BD (dhaka-knit-01)")
    choose(page, "Source of the report", "Grievance channel")
    field(page, "Your name or email").locator("textarea, input").first.fill("li.wen@ngo.example")
    assert page.get_by_text('Property is type "None"').count() == 0
    shot(page, "03-open-a-case-form")
    page.get_by_role("button", name="Submit").click()

    reference = wait_until("the case to open", stack.newest_case)
    assert case_row(stack, reference)[1] == "grievance_channel"
    with stack.api() as api:
        run = wait_until("the lifecycle to wait", lambda: waiting_run(api, reference))
        assert run["name"].startswith(f"{reference} · on-site assessment · due "), run["name"]
        # The sweep refreshes the inboxes (every 15 minutes under `remediate up`; now, here).
        sweep = api.get("/deployments/name/escalation-sweep/escalation-sweep").json()
        swept = api.post(f"/deployments/{sweep['id']}/create_flow_run", json={}).json()
        wait_until(
            "the sweep",
            lambda: api.get(f"/flow_runs/{swept['id']}").json()["state"]["type"] == "COMPLETED",
            120,
        )

    # The case manager's inbox links the wait to its run.
    page.goto(f"{ui}/artifacts/key/inbox-case-manager")
    page.get_by_text(re.compile(r"^[0-9a-f]{8}$")).first.click()
    page.wait_for_url(re.compile(r"/artifacts/artifact/"))
    link = page.get_by_role("link", name=reference)
    link.wait_for()
    shot(page, "04-inbox-case-manager")
    # The markdown's links open in a new tab; follow it in this one.
    assert link.get_attribute("href") == f"{ui}/runs/flow-run/{run['id']}"
    page.goto(link.get_attribute("href"))

    page.get_by_role("button", name="Resume").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_text("On-site assessment: verify the age").wait_for()
    assert reference in dialog.inner_text()
    field(page, "Your name or email").locator("textarea, input").first.fill("rahim.uddin@ngo.example")
    field(page, "Verified age (years)").locator("input").first.fill("13")
    choose(page, "How the age was verified", "School records")
    choose(page, "Outcome", word_for("child_labourer"))
    for toggle in (
        "The child was removed from all work",
        "The child is in a safe place",
        "The child consents",
        "The guardian consents",
    ):
        switch = field(page, toggle).get_by_role("switch")
        switch.click()
        assert switch.get_attribute("aria-checked") == "true"
    assert dialog.get_by_text('Property is type "None"').count() == 0
    shot(page, "05-resume-assessment")
    with page.expect_response(lambda r: "/resume" in r.url) as resumed:
        dialog.get_by_role("button", name="Submit").click()
    response = resumed.value
    assert response.ok and '"ACCEPT"' in response.text(), response.text()

    # The run now waits for the plan, and its name says so.
    with stack.api() as api:
        renamed = wait_until(
            "the run to wait for the plan",
            lambda: (r := waiting_run(api, reference)) and "remediation plan" in r["name"] and r,
        )
    assert renamed["id"] == run["id"] and renamed["name"].endswith("(case manager)"), renamed["name"]
    assert case_row(stack, reference)[0] == "remediation_plan"
    page.goto(f"{ui}/runs/flow-run/{run['id']}")
    page.get_by_text(renamed["name"]).first.wait_for()
    shot(page, "06-run-renamed-to-the-next-wait")
