"""Serve the deployments from one process: the embedded default's runners, and the integration tests'.

python -m remediation_flows.stack.serve [casework|operations]     (default: every deployment)

`remediate up` starts two: one for the case flows, one for the sweep, the dispatcher and the recovery,
so that a burst of cases occupying every slot of the first never holds back mail or escalations.

The deployments are those of flows/deployments.py, the same list prefect.yaml is generated from.
Intervals come from the environment (REMEDIATION_SWEEP_SECONDS, REMEDIATION_DISPATCH_SECONDS,
REMEDIATION_RECOVERY_SECONDS; 0 turns a schedule off), and each enterprise-programme block on the
server gets its yearly due-diligence cycle.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prefect import Flow
from prefect.deployments.runner import RunnerDeployment
from prefect.logging import get_logger

from remediation_flows.core.config import Programme
from remediation_flows.core.store import upgrade_schema
from remediation_flows.flows.common import case_store
from remediation_flows.flows.deployments import DEPLOYMENTS, RUNNERS, Deployment, runner_deployment
from remediation_flows.flows.form_choices import programmes_on_server
from remediation_flows.stack.embedded import SERVE_AFTER_VARIABLE
from remediation_flows.stack.wake_on_scheduled_runs import start_runner_woken_by_events
from remediation_flows.stack.warm_start import start_flow_runs_from_a_warm_process

if TYPE_CHECKING:
    from prefect.runner import Runner

log = get_logger("remediation_flows.stack.serve")


def enterprise_programmes() -> list[Programme]:
    """Every valid enterprise-programme block on the Prefect server (an invalid one is refused later,
    with its reasons, when its flows load it)."""
    try:
        return asyncio.run(programmes_on_server())
    except Exception:  # no block type yet on a new server: no programmes
        return []


def deployments_of(runner: str | None = None) -> list[Deployment]:
    """The deployments ``runner`` serves (default: every one), as flows/deployments.py defines them."""
    return [deployment for deployment in DEPLOYMENTS if runner is None or deployment.runner == runner]


def deployments(runner: str | None = None) -> list[tuple[RunnerDeployment, Flow]]:
    """The deployments of ``runner`` (default: every one), each with its flow, with their schedules
    where they have them, and open-a-case's form offering the programmes' enterprises and sites."""
    programmes = enterprise_programmes()

    def cycles() -> list[tuple[str, int]]:
        return [(p.enterprise_id, p.due_diligence.cycle_start_month) for p in programmes]

    return [
        (runner_deployment(deployment, cycles, programmes), deployment.flow())
        for deployment in deployments_of(runner)
    ]


def stack_runner(**options: Any) -> Runner:
    """A Runner as the stack's: it does not pause its deployments on the way out, and it starts a
    scheduled run's process one poll and a second ahead of the run's time, not Prefect's 10 s.

    A process started early waits in the flow engine until its run's time, holding a slot of the
    runner and of its deployment's limit, and a Ctrl-C meeting it waited for it: with the dispatcher
    every 15 s, a waiting dispatcher process was alive most of the time, and stopping took 8 to 13 s
    instead of 3. A run forked from the warm process starts in under half a second, and one poll
    interval ahead is what it takes for the run to be found before its time.
    """
    from prefect.runner import Runner
    from prefect.settings import PREFECT_RUNNER_POLL_FREQUENCY

    poll = options.get("query_seconds") or PREFECT_RUNNER_POLL_FREQUENCY.value()
    options.setdefault("prefetch_seconds", poll + 1)
    # Deployments are registered again at the next start; pausing them on the way out only slows Ctrl-C.
    return Runner(pause_on_shutdown=False, **options)


def serve_in_memory(served: list[tuple[RunnerDeployment, Flow]], limit: int) -> None:
    """Serve ``served`` as ``prefect.serve`` does, but start each run from the flow in memory.

    ``prefect.serve`` registers a deployment without its flow, so its runner starts every run with
    ``python -m prefect.engine``, which imports Prefect and loads the flow's file again (about 2.5 s
    of CPU before the flow's first line). A flow registered with its deployment, as ``Runner.add_flow``
    does, runs from the flow object, and here as a fork of a process that has imported it already
    (stack/warm_start.py, started by :func:`main` before it waits for the stack's blocks).
    ``add_flow`` cannot take the worded forms of flows/form_choices.py, hence the registry call it
    makes itself. The runner polls at once when one of its runs is scheduled
    (stack/wake_on_scheduled_runs.py), not only every PREFECT_RUNNER_POLL_FREQUENCY seconds.
    """
    serving = stack_runner(limit=limit)
    for deployment, flow in served:
        deployment_id = serving.add_deployment(deployment)
        serving._deployment_registry.register_flow(deployment_id, flow)
    # The words prefect.serve prints, which the stack and the tests wait for.
    names = ", ".join(deployment.name for deployment, _ in served)
    print(f"Your deployments are being served and polling for scheduled runs! ({names})", flush=True)
    try:
        asyncio.run(start_runner_woken_by_events(serving))
    except KeyboardInterrupt:
        log.info("Received KeyboardInterrupt, shutting down...")


def serve_flow(flow: Flow, name: str, **runner_options: Any) -> None:
    """Serve one flow as the stack's runners serve theirs, until Ctrl-C: each run forked from a warm
    process (stack/warm_start.py), the runner woken by its runs' events (stack/wake_on_scheduled_runs.py).

    For the flows that are measured or probed beside the stack's (bench/empty_flow.py's floor, the
    wake-up's test), so that they are served the same way by construction. ``runner_options`` go to
    ``Runner``; ``flow`` is its script's own, so no module is preloaded for it.
    """
    start_flow_runs_from_a_warm_process([])
    serving = stack_runner(**runner_options)
    serving.add_flow(flow, name=name)
    print("Your deployments are being served and polling for scheduled runs!", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(start_runner_woken_by_events(serving))


SERVE_AFTER_SECONDS = 600


def wait_for_the_go(path: Path, seconds: float = SERVE_AFTER_SECONDS) -> None:
    """Return once ``path`` exists; exit if it has not come within ``seconds`` or the stack is gone."""
    deadline = time.monotonic() + seconds
    parent = os.getppid()
    try:
        while not path.exists():
            if os.getppid() != parent:
                raise SystemExit("remediation_flows.stack.serve: the stack that started this runner is gone")
            if time.monotonic() > deadline:
                raise SystemExit(f"remediation_flows.stack.serve: no {path} after {seconds:.0f} s")
            time.sleep(0.05)
    except KeyboardInterrupt:
        raise SystemExit(0) from None  # the stack stopped before it served anything


def main(argv: list[str] | None = None) -> None:
    arguments = sys.argv[1:] if argv is None else argv
    runner = arguments[0] if arguments else None
    if runner is not None and runner not in RUNNERS:
        raise SystemExit(
            f"remediation_flows.stack.serve: unknown runner '{runner}'; expected one of {', '.join(RUNNERS)}"
        )
    # The stack stops a runner with SIGINT (see LocalStack.stop). A process started in the
    # background by a shell, or by a service manager, inherits SIGINT ignored, and then waited out
    # the 30 s before SIGTERM, whose handler in Prefect 3.8.8 leaves a traceback mid-run.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    # The flows' modules, not this one: each run executes it again as its __main__ (multiprocessing's
    # rule), which is cheap once its imports are loaded, and warns if it is loaded already. Started
    # before the wait, the warm process imports them while the stack saves its blocks.
    start_flow_runs_from_a_warm_process(sorted({d.flow().fn.__module__ for d in deployments_of(runner)}))
    if go := os.environ.get(SERVE_AFTER_VARIABLE):
        wait_for_the_go(Path(go))
    upgrade_schema(asyncio.run(case_store()).url)
    serve_in_memory(deployments(runner), limit=int(os.environ.get("REMEDIATION_SERVE_LIMIT", "8")))


if __name__ == "__main__":
    main()
