"""Beyond one machine, for real: Prefect on PostgreSQL behind an auth string, prefect.yaml deployed to a
process pool, two workers, sweeps and dispatchers running at once, and not one email sent twice."""

from __future__ import annotations

import base64
import collections
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from sqlalchemy import func, select

from remediation_flows.core.store import CaseStore, upgrade_schema
from remediation_flows.core.store.schema import MilestoneEscalation, OutboxMessage
from tests.conftest import free_port, fresh_postgres_database, fresh_prefect_postgres_database

pytestmark = pytest.mark.prefect

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
AUTH = "operator:correct-horse-battery"


@pytest.fixture
def databases():
    """Two new databases: the Prefect server's and the case store's."""
    with (
        fresh_prefect_postgres_database("scale_prefect") as prefect_url,
        fresh_postgres_database("scale_cases") as cases_url,
    ):
        yield prefect_url, cases_url


def test_two_workers_on_a_postgres_prefect_send_every_escalation_exactly_once(databases, mail_sink, tmp_path):
    handler, smtp_port = mail_sink
    prefect_url, cases_url = databases
    port = free_port()
    api = f"http://127.0.0.1:{port}/api"
    # Nothing of the test session's own Prefect or case store may reach the scale-out stack.
    base = {
        key: value for key, value in os.environ.items() if not key.startswith(("PREFECT_", "REMEDIATION_"))
    }
    server_env = base | {
        "PREFECT_HOME": str(tmp_path / "server"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_API_DATABASE_CONNECTION_URL": prefect_url.replace("+psycopg", "+asyncpg"),
        "PREFECT_SERVER_API_AUTH_STRING": AUTH,
        # The race's two dispatchers and a scheduled one exceed the deployment's limit of 2: the third
        # waits for a slot, 30 s by default; the exactly-once check does not need the wait that long.
        "PREFECT_SERVER_DEPLOYMENTS_CONCURRENCY_SLOT_WAIT_SECONDS": "2",
    }
    client_env = base | {
        "PREFECT_HOME": str(tmp_path / "client"),
        "PREFECT_API_URL": api,
        "PREFECT_API_AUTH_STRING": AUTH,
        "PREFECT_WORKER_QUERY_SECONDS": "1",
        "REMEDIATION_HOME": str(ROOT),
    }
    processes: list[subprocess.Popen] = []

    def start(command: list[str], env: dict, name: str) -> subprocess.Popen:
        log = (tmp_path / f"{name}.log").open("w")
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
        processes.append(process)
        return process

    def run(command: list[str]) -> str:
        result = subprocess.run(
            command, env=client_env, cwd=ROOT, capture_output=True, text=True, timeout=300
        )
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout

    try:
        start(
            [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
            server_env,
            "server",
        )
        deadline = time.time() + 120
        header = {"Authorization": "Basic " + base64.b64encode(AUTH.encode()).decode()}
        while True:
            try:
                with urllib.request.urlopen(
                    urllib.request.Request(f"{api}/health", headers=header), timeout=2
                ):
                    break
            except OSError:
                assert time.time() < deadline, (tmp_path / "server.log").read_text()[-2000:]
                time.sleep(0.5)
        # Without the auth string the API (and so every enterprise's cases in the UI) is closed.
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"{api}/deployments/filter", data=b"{}", timeout=5)
        assert refused.value.code == 401

        upgrade_schema(cases_url)
        run([sys.executable, "ops/scale_check.py", "blocks", cases_url, str(smtp_port)])
        run([str(BIN / "prefect"), "work-pool", "create", "remediation", "--type", "process"])
        deployed = run([str(BIN / "prefect"), "--no-prompt", "deploy", "--all"])
        assert "escalation-sweep" in deployed and "outbox-dispatcher" in deployed
        for name in ("worker-a", "worker-b"):
            start(
                [
                    str(BIN / "prefect"),
                    "worker",
                    "start",
                    "--pool",
                    "remediation",
                    "--name",
                    name,
                    "--type",
                    "process",
                ],
                client_env,
                name,
            )

        seeded = json.loads(run([sys.executable, "ops/scale_check.py", "seed", cases_url, "25"]))
        assert seeded == {"opened": 25}
        # The seeded cases were notified 30 days ago: a sweep now finds them all overdue.
        raced = json.loads(run([sys.executable, "ops/scale_check.py", "race"]))
        assert [r["state"] for r in raced["runs"]] == ["COMPLETED"] * 4, raced
        assert {r["pool"] for r in raced["runs"]} == {"remediation"}

        store = CaseStore(cases_url)
        with store.transaction() as session:
            firings = session.scalars(select(MilestoneEscalation)).all()
            levels = sum(len(firing.levels) for firing in firings)
            escalation_mail = session.scalars(
                select(OutboxMessage.message_id).where(OutboxMessage.kind == "escalation")
            ).all()
            unsent = session.scalar(
                select(func.count()).select_from(OutboxMessage).where(OutboxMessage.status != "sent")
            )
        store.dispose()
        # 25 assessments, 27 days late: the urgent ladder's three levels each, one email each (the top one).
        assert levels == 75 and len(firings) == 25 and len(escalation_mail) == 25
        deadline = time.time() + 60
        while len(handler.messages) < 75 and time.time() < deadline:  # 50 task emails + 25 escalations
            time.sleep(0.5)
        received = collections.Counter(message["Message-ID"] for message in handler.parsed())
        assert unsent == 0
        assert all(count == 1 for count in received.values()), [k for k, v in received.items() if v > 1]
        assert set(escalation_mail) <= set(received)
        worker_logs = {name: (tmp_path / f"{name}.log").read_text() for name in ("worker-a", "worker-b")}
        ran = {name: log.count("Finished in state Completed") for name, log in worker_logs.items()}
        print(f"flow runs per worker: {ran}")  # which worker wins a run is the scheduler's affair
        assert sum(ran.values()) >= 4
    finally:
        for process in reversed(processes):
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
