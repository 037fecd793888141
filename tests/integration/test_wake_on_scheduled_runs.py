"""A runner starts a new or resumed run when the run is scheduled, not at its next poll."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import PREFECT_HOME
from tests.integration.conftest import ROOT

pytestmark = pytest.mark.prefect

#: Far below the runner's 600 s poll: met only if the run's event woke the runner.
WITHIN_SECONDS = 20


@pytest.fixture
def slow_polling_runner(prefect_server):
    log = Path(PREFECT_HOME) / "slow-polling-runner.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.integration.slow_polling_runner"],
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            env=os.environ,
        )
    deadline = time.time() + 60
    while "being served" not in log.read_text():
        assert process.poll() is None and time.time() < deadline, log.read_text()[-3000:]
        time.sleep(0.2)
    # Past the runner's first poll, which would find a run created before it.
    time.sleep(3)
    yield log
    process.send_signal(signal.SIGINT)
    process.wait(timeout=30)
    # Prefect logs a suspension as an ERROR (the stack's flows say otherwise, flows/run_log.py); a
    # traceback is what would tell of a failed wake-up.
    assert "Traceback" not in log.read_text(), log.read_text()[-3000:]


async def _state_within(flow_run_id, wanted: str, seconds: float):
    from prefect.client.orchestration import get_client

    deadline = time.monotonic() + seconds
    async with get_client() as client:
        while time.monotonic() < deadline:
            run = await client.read_flow_run(flow_run_id)
            if run.state and run.state.type.value == wanted:
                return run, time.monotonic()
            await asyncio.sleep(0.1)
    return run, None


async def test_a_new_run_and_a_resumed_run_start_without_waiting_for_the_poll(slow_polling_runner: Path):
    from prefect.client.orchestration import get_client
    from prefect.flow_runs import aresume_flow_run

    async with get_client() as client:
        deployment = await client.read_deployment_by_name("wake-probe/wake-probe")
        created = await client.create_flow_run_from_deployment(deployment.id)
    started = time.monotonic()
    run, paused_at = await _state_within(created.id, "PAUSED", WITHIN_SECONDS)
    assert paused_at, (
        f"a new run did not start within {WITHIN_SECONDS} s of the runner's 600 s poll: {run.state}\n"
        + slow_polling_runner.read_text()[-3000:]
    )

    resumed = time.monotonic()
    await aresume_flow_run(created.id, run_input={"answered_by": "li.wen@ngo.example"})
    run, completed_at = await _state_within(created.id, "COMPLETED", WITHIN_SECONDS)
    assert completed_at, (
        f"a resumed run did not finish within {WITHIN_SECONDS} s: {run.state}\n"
        + slow_polling_runner.read_text()[-3000:]
    )
    print(
        f"new run suspended after {paused_at - started:.1f} s; "
        f"resumed run done after {completed_at - resumed:.1f} s"
    )
