"""Which events wake a runner (remediation_flows/stack/wake_on_scheduled_runs.py): the Prefect server's
own matching of the filter the runner subscribes with, and the runner's check of what comes through."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from prefect.server.events.filters import EventFilter as ServerEventFilter
from prefect.server.events.filters import EventOccurredFilter
from prefect.server.events.schemas.events import ReceivedEvent

from remediation_flows.stack.wake_on_scheduled_runs import scheduled_runs_of, wakes_the_runner

DEPLOYMENT = uuid.uuid4()


def _scheduled(state_name: str, deployment: uuid.UUID = DEPLOYMENT) -> ReceivedEvent:
    """A flow run's state-change event as the server emits it (models/events.py)."""
    return ReceivedEvent(
        occurred=dt.datetime.now(dt.UTC),
        event=f"prefect.flow-run.{state_name}",
        resource={
            "prefect.resource.id": f"prefect.flow-run.{uuid.uuid4()}",
            "prefect.state-type": "SCHEDULED",
            "prefect.state-name": state_name,
        },
        related=[
            {"prefect.resource.id": f"prefect.deployment.{deployment}", "prefect.resource.role": "deployment"}
        ],
        id=uuid.uuid4(),
    )


def _as_the_server_matches_it() -> ServerEventFilter:
    served = ServerEventFilter.model_validate(scheduled_runs_of([DEPLOYMENT]).model_dump(mode="json"))
    # Prefect's subscriber opens the window itself (prefect/events/clients.py), from now on.
    now = dt.datetime.now(dt.UTC)
    served.occurred = EventOccurredFilter(
        since=now - dt.timedelta(minutes=1), until=now + dt.timedelta(days=1)
    )
    return served


@pytest.mark.parametrize("state_name", ["Scheduled", "Resuming"])
def test_a_run_created_or_resumed_wakes_the_runner(state_name: str) -> None:
    assert _as_the_server_matches_it().includes(_scheduled(state_name))


@pytest.mark.parametrize("state_name", ["AwaitingConcurrencySlot", "AwaitingRetry", "Late"])
def test_a_run_put_back_for_later_does_not(state_name: str) -> None:
    # Each refusal to start a run over its deployment's limit is an AwaitingConcurrencySlot event:
    # woken by those, a runner with a backlog polled many times a second, to no purpose.
    assert not _as_the_server_matches_it().includes(_scheduled(state_name))


def test_another_deployments_run_comes_through_the_stream_and_does_not_wake_the_runner() -> None:
    # Prefect 3.8.8's stream does not apply the related-resource part of a filter: the runner must.
    other = _scheduled("Scheduled", uuid.uuid4())
    assert _as_the_server_matches_it().includes(other)
    ours = {f"prefect.deployment.{DEPLOYMENT}"}
    assert not wakes_the_runner(other, ours)
    assert wakes_the_runner(_scheduled("Scheduled"), ours)
    assert wakes_the_runner(_scheduled("Resuming"), ours)
    assert not wakes_the_runner(_scheduled("AwaitingConcurrencySlot"), ours)
