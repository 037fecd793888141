"""A runner that looks for work the moment one of its runs is scheduled, not at its next poll.

A Prefect runner finds its runs by polling (every PREFECT_RUNNER_POLL_FREQUENCY seconds, 2 in the
stack). Every new run and every resume therefore waited on average half a poll, up to a whole one,
before its process started: about 1 s of the 2 s a program manager waited after a Resume. The
Prefect server already announces each of those moments as an event (a run entering a SCHEDULED
state), on the websocket its UI listens to. Here the runner subscribes to those events and polls
at once when one of its own deployments' runs is due to start now.

The poll stays as it was, so that a lost event, a dropped websocket or a server without the event
stream delays a run by one poll at most and never loses it; a run already being started is not
started twice (Prefect's poller skips the runs it is submitting, and the server refuses a second
move from Scheduled to Pending).

Only a run scheduled to start now wakes the runner: a new one ("Scheduled") or a resumed one
("Resuming"). A run put back to wait for a deployment's concurrency slot ("AwaitingConcurrencySlot")
or for a retry is scheduled for later, and each refusal to start one is itself such an event: woken
by those, a runner with a backlog of due runs polled many times a second and logged "N scheduled
runs skipped (at capacity)" each time. For the same reason polls are taken one at a time, a burst
of events is one poll, and a runner with no free slot does not poll at all.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any
from uuid import UUID

from prefect.events.clients import get_events_subscriber
from prefect.events.filters import EventFilter, EventNameFilter, EventRelatedFilter, EventResourceFilter
from prefect.logging import get_logger
from prefect.runner import Runner

log = get_logger("remediation_flows.stack.wake_on_scheduled_runs")

#: How long to wait before subscribing again after the stream failed: short enough that the wake-up
#: is back within a poll or two, long enough not to spin against a server that has no stream.
RESUBSCRIBE_SECONDS = 5.0

#: Pauses before looking again for a run its event announced but a poll did not find yet.
RETRY_PAUSES = (0.05, 0.1, 0.2, 0.4)

#: The names of the SCHEDULED states that mean "start now": created, and resumed from a form.
STARTING_NOW = ("Scheduled", "Resuming")


def scheduled_runs_of(deployment_ids: list[Any]) -> EventFilter:
    """Events of a flow run of one of ``deployment_ids`` entering a SCHEDULED state."""
    return EventFilter(
        event=EventNameFilter(prefix=["prefect.flow-run."]),
        resource=EventResourceFilter(
            labels={"prefect.state-type": "SCHEDULED", "prefect.state-name": list(STARTING_NOW)}  # type: ignore[arg-type]
        ),
        related=EventRelatedFilter(
            id=[f"prefect.deployment.{deployment_id}" for deployment_id in deployment_ids]
        ),
    )


def wakes_the_runner(event: Any, deployment_ids: set[str]) -> bool:
    """Whether ``event`` is a run of one of ``deployment_ids`` scheduled to start now.

    The server's stream applies the filter's name and labels, but in Prefect 3.8.8 not its related
    resources (``EventRelatedFilter`` has no test of its own for streamed events): every runner
    would wake for every deployment's runs.
    """
    labels = event.resource
    return (
        labels.get("prefect.state-type") == "SCHEDULED"
        and labels.get("prefect.state-name") in STARTING_NOW
        and any(related.id in deployment_ids for related in event.related)
    )


async def _poller_of(runner: Runner) -> Any:
    """The runner's poller, created by ``Runner.start`` once its client is open."""
    while getattr(runner, "_scheduled_run_poller", None) is None:
        await asyncio.sleep(0.05)
    return runner._scheduled_run_poller


class _Polls:
    """The runner's polls asked for by events, taken one at a time."""

    def __init__(self, poller: Any) -> None:
        self.poller = poller
        self.lock = asyncio.Lock()
        self.last_started = float("-inf")

    async def poll(self, asked: float) -> None:
        """Poll once, unless a poll began after ``asked`` (it looked already) or no slot is free."""
        async with self.lock:
            if self.last_started > asked or not self.poller._limit_manager.has_slots_available():
                return
            self.last_started = asyncio.get_running_loop().time()
            await self.poller._get_and_submit_flow_runs()


async def _poll_for(polls: _Polls, flow_run_id: UUID | None, patience: float) -> None:
    """Poll for ``flow_run_id`` until it is being started, after the runner let go of its previous process.

    A run resumed a moment after it suspended is scheduled while the runner still waits for the
    suspended process to exit: a poll then skips it as one being started, and only the next
    regular poll would start it. And the server announces a state before the request that set it
    has committed it: a poll that quick may not see the run yet, so it looks again a few times,
    sooner than the regular poll would.
    """
    submitting = polls.poller._submitting_flow_run_ids
    clock = asyncio.get_running_loop().time
    deadline = clock() + patience
    while flow_run_id in submitting and clock() < deadline:
        await asyncio.sleep(0.05)
    for pause in (0.0, *RETRY_PAUSES):
        await asyncio.sleep(pause)
        if flow_run_id in submitting or clock() >= deadline:
            return
        await polls.poll(asked=clock())
        if flow_run_id is None:
            return


def _flow_run_id(event: Any) -> UUID | None:
    try:
        return UUID(event.resource.id.rpartition(".")[2])
    except ValueError:
        return None


async def wake_on_scheduled_runs(runner: Runner) -> None:
    """Poll ``runner`` for work whenever one of its deployments' runs is scheduled; runs until cancelled."""
    polls = _Polls(await _poller_of(runner))
    deployment_ids = list(runner._deployment_registry.get_deployment_ids())
    related_ids = {f"prefect.deployment.{deployment_id}" for deployment_id in deployment_ids}
    waiting: set[asyncio.Task[None]] = set()
    while True:
        try:
            async with get_events_subscriber(filter=scheduled_runs_of(deployment_ids)) as events:
                async for event in events:
                    if runner.stopping:
                        return
                    if not wakes_the_runner(event, related_ids):
                        continue
                    # Prefect's own poll, as its loop would run it a moment later; one task per
                    # event, so that one waiting for its run's previous process holds up no other.
                    poll = asyncio.create_task(_poll_for(polls, _flow_run_id(event), runner.query_seconds))
                    waiting.add(poll)
                    poll.add_done_callback(waiting.discard)
        except asyncio.CancelledError:
            for poll in waiting:
                poll.cancel()
            raise
        except Exception as failure:  # the poll goes on: a lost wake-up costs one poll interval
            log.debug("the scheduled-run event stream failed (%s); subscribing again", failure)
        await asyncio.sleep(RESUBSCRIBE_SECONDS)


async def start_runner_woken_by_events(runner: Runner) -> None:
    """``runner.start()``, with the wake-up beside it for as long as the runner runs."""
    waking = asyncio.create_task(wake_on_scheduled_runs(runner))
    try:
        await runner.start()
    finally:
        waking.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await waking
