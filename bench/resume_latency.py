"""How long a person waits after a Resume: the case lifecycle beside an empty flow served alike (issue 15).

On a throwaway embedded stack (`remediate up`'s own server on SQLite, runners and store, in a folder of
its own, as `remediate demo` runs), with ``--open-cases`` other cases open in the store, it opens cases
and answers their forms through the API as a person does with the Resume button (assessment, plan, two
approvals, enrolment), and after each answer resumes an empty flow (bench/empty_flow.py, served by a
runner of its own with the stack's environment) with the same kind of answer. Each figure runs from
the resume request until the next form can be read (the run is suspended on a new key and its form's
description is readable). From each run's state history it splits that time into the wait for the
runner's poll (resumed until Pending), the process's start (Pending until Running) and the flow's own
work (Running until Paused). The floor is the empty flow; the ratio is the lifecycle over the floor.

Usage: python bench/resume_latency.py [--cases 2] [--open-cases 2000] [--poll SECONDS]
(--poll sets PREFECT_RUNNER_POLL_FREQUENCY for every runner; default: the stack's own).
The last line is key=value pairs.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CASE_MANAGER = "rahim.uddin@ngo.example"
#: The answers a case's people give, in order, each followed by the form it leads to.
ANSWERS: list[dict[str, Any]] = [
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
    {
        "answered_by": CASE_MANAGER,
        "pathway": "schooling",
        "monthly_stipend": 8000,
        "currency": "BDT",
        "school_fees": 1500,
        "payer": "supplier",
    },
    {"answered_by": "chen.jing@ngo.example", "role": "supervisor", "approved": True},
    {
        "answered_by": "compliance@northwind-apparel.example",
        "role": "enterprise_focal_point",
        "approved": True,
    },
    {
        "answered_by": CASE_MANAGER,
        "effective_on": dt.date.today().isoformat(),
        "evidence_reference": "BENCH-ENR-1",
    },
]


@dataclass
class Resume:
    """One resume: seconds until the next form was readable, and its parts from the run's states."""

    wait: float
    poll: float
    start: float
    body: float


async def next_form(client: Any, run_id: Any, previous_key: str | None, timeout: float = 300) -> str:
    """Wait until the run is suspended on a key other than ``previous_key`` with its form readable."""
    from prefect.exceptions import PrefectHTTPStatusError

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = await client.read_flow_run(run_id)
        state = run.state
        if state and state.is_paused() and state.state_details.pause_key != previous_key:
            try:
                await client.read_flow_run_input(run_id, state.state_details.run_input_keyset["description"])
            except PrefectHTTPStatusError:
                pass  # suspended a moment before its form was saved
            else:
                return state.state_details.pause_key
        if state and state.is_final():
            raise RuntimeError(f"flow run {run.name} ended {state.type.value}: {state.message}")
        await asyncio.sleep(0.05)
    raise TimeoutError(f"flow run {run_id}: no new form within {timeout:.0f} s")


async def resume(client: Any, run_id: Any, key: str, answer: dict[str, Any]) -> tuple[str, Resume]:
    """Resume the run with ``answer``; returns the next form's key and what the wait was made of."""
    import json

    from prefect.flow_runs import aresume_flow_run

    from remediation_flows.flows.forms import resume_input

    # The form's choices read as words (issue 11): the answer is given as the Resume dialog gives it.
    run = await client.read_flow_run(run_id)
    keyset = run.state.state_details.run_input_keyset
    answer = resume_input(json.loads(await client.read_flow_run_input(run_id, keyset["schema"])), answer)
    asked = dt.datetime.now(dt.UTC)
    started = time.perf_counter()
    await aresume_flow_run(run_id, run_input=answer)
    new_key = await next_form(client, run_id, key)
    waited = time.perf_counter() - started
    states = [s for s in await client.read_flow_run_states(run_id) if s.timestamp >= asked]
    stamps = {s.type.value: s.timestamp for s in sorted(states, key=lambda s: s.timestamp)}
    first = {}
    for s in sorted(states, key=lambda s: s.timestamp):
        first.setdefault(s.type.value, s.timestamp)
    resumed = min(s.timestamp for s in states)
    pending, running, paused = first.get("PENDING"), first.get("RUNNING"), stamps.get("PAUSED")
    if not (pending and running and paused):
        raise RuntimeError(f"unexpected states after a resume: {[s.type.value for s in states]}")
    return new_key, Resume(
        wait=waited,
        poll=(pending - resumed).total_seconds(),
        start=(running - pending).total_seconds(),
        body=(paused - running).total_seconds(),
    )


async def measure(cases: int) -> tuple[list[Resume], list[Resume]]:
    """Resume ``cases`` cases through their first forms, each resume followed by one of the empty flow."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterTags
    from prefect.deployments import arun_deployment

    from remediation_flows.flows.remediation.runs import case_tag

    lifecycle: list[Resume] = []
    empty: list[Resume] = []
    async with get_client() as client:
        empty_run = await arun_deployment("empty-flow/empty-flow", timeout=0, as_subflow=False)
        empty_key = await next_form(client, empty_run.id, None)
        for number in range(cases):
            await arun_deployment(
                "open-a-case/open-a-case",
                parameters={
                    "notification": {
                        "enterprise_id": "northwind-apparel",
                        "site_id": "dhaka-knit-01",
                        "notified_at": dt.datetime.now(dt.UTC).isoformat(),
                        "source": "audit",
                        "suspected_age": 13,
                        "reported_by": "li.wen@ngo.example",
                    }
                },
                timeout=300,
                as_subflow=False,
                poll_interval=0.2,
            )
            reference = newest_case()
            runs: list[Any] = []
            while not runs:
                runs = await client.read_flow_runs(
                    flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(all_=[case_tag(reference)]))
                )
                await asyncio.sleep(0.1)
            run_id = runs[0].id
            key = await next_form(client, run_id, None)
            for step, answer in enumerate(ANSWERS, start=1):
                key, figure = await resume(client, run_id, key, answer)
                lifecycle.append(figure)
                empty_key, floor = await resume(client, empty_run.id, empty_key, {"answered_by": "bench"})
                empty.append(floor)
                print(
                    f"case {number + 1} step {step}: lifecycle {figure.wait:6.2f} s "
                    f"(poll {figure.poll:.2f}, start {figure.start:.2f}, body {figure.body:.2f}); "
                    f"empty {floor.wait:6.2f} s (poll {floor.poll:.2f}, start {floor.start:.2f}, "
                    f"body {floor.body:.2f})",
                    flush=True,
                )
    return lifecycle, empty


def newest_case() -> str:
    from sqlalchemy import select

    from remediation_flows.core.store import CaseStore
    from remediation_flows.core.store.schema import Case

    store = CaseStore(os.environ["REMEDIATION_DATABASE_URL"])
    try:
        with store.transaction() as session:
            return session.scalars(select(Case.reference).order_by(Case.id.desc()).limit(1)).one()
    finally:
        store.dispose()


def seed_open_cases(url: str, count: int) -> None:
    """``count`` open cases in the store, opened through the core (no runs of their own)."""
    from bench.step_cost import open_cases
    from remediation_flows.core.config import load_programme_file
    from remediation_flows.core.store import CaseStore
    from remediation_flows.core.store import repository as repo

    programme = load_programme_file(ROOT / "examples" / "garment_brand.yaml")
    store = CaseStore(url)
    with store.transaction() as session:
        repo.register_programme(session, programme, actor="bench")
    open_cases(store, programme, count)
    store.dispose()


def serve_empty_flow(env: dict[str, str], log: Path) -> subprocess.Popen:
    """Serve bench/empty_flow.py from the checkout's root with the stack's environment, as its runners run."""
    with log.open("w") as out:
        return subprocess.Popen(
            [sys.executable, "bench/empty_flow.py"],
            env=env,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


async def wait_for_deployment(name: str, process: subprocess.Popen, log: Path, seconds: float = 180) -> None:
    from prefect.client.orchestration import get_client

    deadline = time.monotonic() + seconds
    async with get_client() as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"the empty flow's runner stopped:\n{log.read_text()[-2000:]}")
            if "Your deployments are being served" in log.read_text():
                await client.read_deployment_by_name(name)
                return
            await asyncio.sleep(0.5)
    raise TimeoutError(f"{name} was not served within {seconds:.0f} s")


def summary(name: str, figures: list[Resume]) -> dict[str, float]:
    return {
        f"{name}_s": statistics.median(f.wait for f in figures),
        f"{name}_poll_s": statistics.median(f.poll for f in figures),
        f"{name}_start_s": statistics.median(f.start for f in figures),
        f"{name}_body_s": statistics.median(f.body for f in figures),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=2)
    parser.add_argument("--open-cases", type=int, default=2000)
    parser.add_argument("--poll", type=float, default=None, help="the runners' poll interval, in seconds")
    args = parser.parse_args()

    from remediation_flows.core.store.database import DATABASE_URL_VARIABLE
    from remediation_flows.stack.embedded import (
        LocalStack,
        StackPaths,
        ensure_auth_string,
        free_ports,
        prefect_environment,
    )

    load_start = os.getloadavg()
    print(
        f"load average at the start: {load_start[0]:.2f} {load_start[1]:.2f} {load_start[2]:.2f}", flush=True
    )
    home = Path(tempfile.mkdtemp(prefix="bench-resume-"))
    paths = StackPaths(home)
    os.environ[DATABASE_URL_VARIABLE] = paths.case_store_url
    # Nothing scheduled runs meanwhile: no sweep, dispatcher or recovery competing with the resumes.
    for variable in (
        "REMEDIATION_SWEEP_SECONDS",
        "REMEDIATION_DISPATCH_SECONDS",
        "REMEDIATION_RECOVERY_SECONDS",
    ):
        os.environ[variable] = "0"
    if args.poll is not None:
        os.environ["PREFECT_RUNNER_POLL_FREQUENCY"] = f"{args.poll:g}"
    api_port, smtp_port, task_port = free_ports(3)
    empty_runner: subprocess.Popen | None = None
    try:
        with LocalStack(
            home, api_port=api_port, smtp_port=smtp_port, task_port=task_port, progress=print
        ) as stack:
            env = prefect_environment(paths, api_port, ensure_auth_string(paths))
            poll = env["PREFECT_RUNNER_POLL_FREQUENCY"]
            log = home / "empty-flow.log"
            empty_runner = serve_empty_flow(env, log)
            asyncio.run(wait_for_deployment("empty-flow/empty-flow", empty_runner, log))
            seeded = time.perf_counter()
            seed_open_cases(stack.paths.case_store_url, args.open_cases)
            print(
                f"{args.open_cases} other open cases seeded in {time.perf_counter() - seeded:.1f} s",
                flush=True,
            )
            lifecycle, empty = asyncio.run(measure(args.cases))
            empty_runner.send_signal(signal.SIGINT)
            empty_runner.wait(timeout=30)
    finally:
        if empty_runner is not None and empty_runner.poll() is None:
            empty_runner.kill()
    load_end = os.getloadavg()
    figures = summary("lifecycle", lifecycle) | summary("empty", empty)
    ratio = figures["lifecycle_s"] / figures["empty_s"]
    print(f"load average at the end: {load_end[0]:.2f} {load_end[1]:.2f} {load_end[2]:.2f}")
    print(
        f"runner poll interval: {poll} s; {args.open_cases} other open cases; {len(lifecycle)} resumes each"
    )
    print(f"{'median of':<22}{'resume→form s':>14}{'poll s':>9}{'start s':>9}{'body s':>9}")
    for name in ("lifecycle", "empty"):
        print(
            f"{name + (' (floor)' if name == 'empty' else ''):<22}{figures[f'{name}_s']:>14.2f}"
            f"{figures[f'{name}_poll_s']:>9.2f}{figures[f'{name}_start_s']:>9.2f}{figures[f'{name}_body_s']:>9.2f}"
        )
    print(
        f"ratio lifecycle/floor: {ratio:.2f} (target at most 1.3); flow's own work per resume: "
        f"{figures['lifecycle_body_s']:.2f} s (target at most 0.3 s at 2,000 open cases)"
    )
    print(f"stack home (kept): {home}")
    pairs = {
        **{k: f"{v:.3f}" for k, v in figures.items()},
        "ratio": f"{ratio:.2f}",
        "open_cases": str(args.open_cases),
        "resumes": str(len(lifecycle)),
        "poll_s": poll,
        "load_start": f"{load_start[0]:.2f}",
        "load_end": f"{load_end[0]:.2f}",
    }
    print(" ".join(f"{key}={value}" for key, value in pairs.items()))


if __name__ == "__main__":
    main()
