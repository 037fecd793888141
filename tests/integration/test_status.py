"""`remediate status` against a real Prefect server with every deployment served."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import delete

from remediation_flows.cli import main as remediate
from remediation_flows.core.store.schema import OutboxMessage
from tests.conftest import PREFECT_HOME
from tests.integration.conftest import run_deployment_and_wait

pytestmark = pytest.mark.prefect


def test_status_reports_the_last_runs_and_a_mail_that_waited_too_long(deployed, tmp_path, capsys):
    async def sweep_and_dispatch() -> None:
        await run_deployment_and_wait("escalation-sweep/escalation-sweep", {})
        await run_deployment_and_wait("outbox-dispatcher/outbox-dispatcher", {})

    asyncio.run(sweep_and_dispatch())
    # No stack.json in this home: the status finds the server by PREFECT_API_URL, as a probe would.
    options = [
        *("--home", str(tmp_path), "--url", deployed.store.url),
        *("--server-log", str(Path(PREFECT_HOME) / "server.log")),
    ]
    capsys.readouterr()

    assert remediate(["status", *options]) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert "escalation-sweep: Completed" in out and "outbox-dispatcher: Completed" in out
    assert "(no schedule)" in out  # the test runner serves them without schedules
    assert "suspended case-lifecycle runs (waiting for someone): " in out
    assert "server errors: 0 in the last 60 min" in out

    with deployed.store.transaction() as session:
        session.add(
            OutboxMessage(
                message_id="<status-late@ngo.example>",
                kind="task",
                recipients=["focal@brand.example"],
                subject="waiting since two hours",
                body_text="-",
                created_at=dt.datetime.now(dt.UTC) - dt.timedelta(hours=2),
            )
        )
    try:
        assert remediate(["status", *options, "--mail-limit-minutes", "30"]) == 1
        captured = capsys.readouterr()
        (problem,) = captured.err.strip().splitlines()
        assert "oldest pending email has waited 120 min" in problem or "has waited 2 h" in problem
        assert "1 pending" in captured.out
    finally:
        with deployed.store.transaction() as session:
            session.execute(delete(OutboxMessage).where(OutboxMessage.message_id.like("<status-late@%")))
