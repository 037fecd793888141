"""The product as a user runs it: `remediate up` with its schedules on, one case opened, nothing else.

No test here calls the sweep or the dispatcher. The case's 72-hour assessment is already overdue when
it is opened; the scheduled sweep must escalate it and the scheduled dispatcher must deliver the task
email and the escalation email to the stack's own mail sink, with no error in the Prefect server's log.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from remediation_flows.core.mail.sink import read_sink
from tests.prefect_log import server_log_errors
from tests.remediate_up import RunningStack, remediate_up

pytestmark = pytest.mark.prefect

SWEEP_SECONDS = 20
DISPATCH_SECONDS = 10


@pytest.fixture
def running_stack(tmp_path: Path) -> Iterator[RunningStack]:
    """`remediate up` as the README starts it, in a home and on ports of its own, short schedules."""
    short_schedules = {
        "REMEDIATION_SWEEP_SECONDS": str(SWEEP_SECONDS),
        "REMEDIATION_DISPATCH_SECONDS": str(DISPATCH_SECONDS),
        # The server's scheduler looks for deployments to schedule every 60 s; sooner keeps this test short.
        "PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS": "10",
    }
    with remediate_up(tmp_path / "var", tmp_path / "remediate-up.log", short_schedules) as stack:
        yield stack
    # Stopping is part of running it: Ctrl-C, with the sweep and the dispatcher running every few
    # seconds, leaves no error in any of the stack's logs (the runners once wrote a traceback).
    for log in ("prefect-server.log", "serve.log", "serve-operations.log", "task-page.log"):
        errors = server_log_errors(stack.home / log)
        assert not errors, f"{log} has errors after Ctrl-C:\n" + "\n".join(errors[:20])


def test_the_scheduled_sweep_and_dispatcher_deliver_task_and_escalation_mail(running_stack):
    stack = running_stack
    notified_at = _one_working_day_overdue()
    with stack.api() as api:
        deployment = api.get("/deployments/name/open-a-case/open-a-case")
        assert deployment.status_code == 200, deployment.text
        created = _retrying(
            lambda: api.post(
                f"/deployments/{deployment.json()['id']}/create_flow_run",
                json={
                    "parameters": {
                        "notification": {
                            "enterprise_id": "northwind-apparel",
                            "site_id": "dhaka-knit-01",
                            "notified_at": notified_at.isoformat(),
                            "source": "audit",
                            "suspected_age": 13,
                            "reported_by": "li.wen@ngo.example",
                        }
                    }
                },
            )
        )
        assert created.status_code == 201, created.text
    opened = time.monotonic()

    reference, arrived = None, {}
    deadline = opened + 300
    while time.monotonic() < deadline and len(arrived) < 2:
        reference = reference or stack.newest_case()
        for message in read_sink(stack.home / "mail") if reference else []:
            if reference not in message.subject:
                continue
            kind = message.message["X-Remediation-Kind"]
            if kind in ("task", "escalation") and kind not in arrived:
                arrived[kind] = time.monotonic() - opened
        time.sleep(1)
    server_log = stack.home / "prefect-server.log"
    print(
        f"case {reference} opened; task email after {arrived.get('task', -1):.0f} s, escalation email "
        f"after {arrived.get('escalation', -1):.0f} s (sweep every {SWEEP_SECONDS} s, "
        f"dispatcher every {DISPATCH_SECONDS} s)"
    )
    assert reference, f"no case was opened:\n{(stack.home / 'serve.log').read_text()[-3000:]}"
    assert "task" in arrived, f"no task email for {reference} reached the sink"
    assert "escalation" in arrived, f"no escalation email for {reference} reached the sink"
    escalations = [
        m
        for m in read_sink(stack.home / "mail")
        if reference in m.subject and m.message["X-Remediation-Kind"] == "escalation"
    ]
    assert len(escalations) == 1 and "Overdue by" in escalations[0].subject
    errors = server_log_errors(server_log)
    assert not errors, "the stack's Prefect server logged errors:\n" + "\n".join(errors[:20])
    # The runners' logs too: a case run that waits for a person is no error (flows/run_log.py).
    runner_errors = [
        line for log in ("serve.log", "serve-operations.log") for line in server_log_errors(stack.home / log)
    ]
    waits = [
        line
        for line in (stack.home / "serve.log").read_text().splitlines()
        if "Waiting for a person's answer" in line
    ]
    assert waits and all("| INFO " in line for line in waits), "the case run's wait is not logged as INFO"
    assert not runner_errors, "a runner logged errors:\n" + "\n".join(runner_errors[:20])
    # The scheduler made the runs: every sweep and dispatch run came from a schedule or the automation.
    with stack.api() as api:
        runs = api.post("/flow_runs/filter", json={"limit": 200}).json()
    assert any(run["name"] and run.get("auto_scheduled") for run in runs), "no scheduled run"


def _one_working_day_overdue() -> dt.datetime:
    """A notification whose 72-hour assessment has reached its ladder's first overdue level now.

    Reckoned with the sweep's own ladder on the site's calendar: an overdue level fires a whole number
    of working days after the deadline at the deadline's local time of day, so "one working day late"
    by the calendar (a new working day has begun) is not yet that level's instant. A fixed "4 days
    ago" left the deadline on the eve of the site's Friday off; counting days begun left a Friday
    evening's case one level short ("Due now").
    """
    from remediation_flows.core.clocks import SiteCalendar
    from remediation_flows.core.config import load_programme_file
    from remediation_flows.core.ladder import ladder_schedule
    from remediation_flows.core.store import repository as repo
    from tests.conftest import EXAMPLES

    programme = load_programme_file(EXAMPLES / "garment_brand.yaml")
    calendar = SiteCalendar(programme.site("dhaka-knit-01"))
    now = dt.datetime.now(dt.UTC)
    for hours_back in range(72, 24 * 14):
        notified_at = now - dt.timedelta(hours=hours_back)
        due_at = repo.reckon_step(programme, "dhaka-knit-01", "on_site_assessment", notified_at).due_at
        levels = ladder_schedule(programme, calendar, "on_site_assessment", due_at)
        fired = [level for level in levels if level.fires_at <= now]
        # The first overdue level has fired and the next will not for the next hour or so, whatever
        # the sweep's timing.
        if (
            fired
            and fired[-1].stage == "overdue"
            and len(fired) < len(levels)
            and levels[len(fired)].fires_at > now + dt.timedelta(hours=1)
            and sum(level.stage == "overdue" for level in fired) == 1
        ):
            return notified_at
    raise AssertionError("no notification instant reaches exactly the first overdue level")


def _retrying(request, attempts: int = 6) -> httpx.Response:
    """Send ``request`` again while the server answers 503, backing off as Prefect's client does."""
    for attempt in range(attempts):
        response = request()
        if response.status_code != 503 or attempt == attempts - 1:
            return response
        time.sleep(2**attempt * 0.5)
    return response
