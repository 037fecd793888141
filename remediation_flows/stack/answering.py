"""Answering a case's prompts through the Prefect API, as a person does with the Resume button.

Used by `remediate demo` (which plays the people) and by the integration tests.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterTags
from prefect.exceptions import PrefectHTTPStatusError
from prefect.flow_runs import aresume_flow_run

from remediation_flows.flows.forms import resume_input
from remediation_flows.flows.remediation.runs import case_tag

#: How often a run is looked at while waiting for its next question: a person (or a test) waits on
#: average half of it after every answer, and each look is one small read of the API.
LOOK_SECONDS = 0.2


async def resume_with(run: Any, answer: dict[str, Any]) -> None:
    """Resume ``run`` with ``answer``, its choices given as codes or words, as the Resume dialog would."""
    keyset = run.state.state_details.run_input_keyset
    async with get_client() as client:
        schema = json.loads(await client.read_flow_run_input(run.id, keyset["schema"]))
    await aresume_flow_run(run.id, run_input=resume_input(schema, answer))


async def next_prompt(reference: str, previous_key: str | None, timeout: float = 90) -> tuple[Any, str, str]:
    """Wait until the case's lifecycle run is suspended on a new prompt; returns (run, key, description)."""
    deadline = time.time() + timeout
    async with get_client() as client:
        while time.time() < deadline:
            runs = await client.read_flow_runs(
                flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(all_=[case_tag(reference)]))
            )
            for run in runs:
                state = run.state
                if state and state.is_paused() and state.state_details.pause_key != previous_key:
                    keyset = state.state_details.run_input_keyset
                    try:
                        description = await client.read_flow_run_input(run.id, keyset["description"])
                    except PrefectHTTPStatusError:
                        continue  # suspended a moment before its form was saved: look again
                    return run, state.state_details.pause_key, description
                if state and state.is_final() and not state.is_completed():
                    raise RuntimeError(
                        f"the lifecycle run of {reference} ended {state.type.value}: {state.message}"
                    )
            await asyncio.sleep(LOOK_SECONDS)
    raise TimeoutError(f"{reference}: no new question within {timeout:.0f} s (is `remediate up` running?)")


class CaseAnswerer:
    """Answers one case's prompts in order."""

    def __init__(self, reference: str) -> None:
        self.reference = reference
        self.key: str | None = None
        self.run: Any = None
        self.description = ""
        self.waiting = False  # a prompt was read and not yet answered

    async def wait(self, expect: str) -> str:
        """Wait for the next prompt and check that it asks ``expect``."""
        if not self.waiting:
            self.run, self.key, self.description = await next_prompt(self.reference, self.key)
            self.waiting = True
        if expect not in self.description:
            raise AssertionError(
                f"{self.reference}: expected a question about {expect!r}, got:\n{self.description}"
            )
        return self.description

    async def answer(self, expect: str, answer: dict[str, Any]) -> None:
        """Answer the current prompt (waiting for it if need be) through the resume API."""
        await self.wait(expect)
        await resume_with(self.run, answer)
        self.waiting = False


class RunAnswerer:
    """Answers the prompts of one flow run (a due-diligence cycle) in order."""

    def __init__(self, flow_run_id: Any) -> None:
        self.flow_run_id = flow_run_id
        self.key: str | None = None

    async def answer(self, expect: str, answer: dict[str, Any], timeout: float = 90) -> str:
        """Wait for the run's next prompt, check it asks ``expect``, answer it; returns its text."""
        deadline = time.time() + timeout
        async with get_client() as client:
            while time.time() < deadline:
                run = await client.read_flow_run(self.flow_run_id)
                state = run.state
                if state and state.is_paused() and state.state_details.pause_key != self.key:
                    try:
                        description = await client.read_flow_run_input(
                            run.id, state.state_details.run_input_keyset["description"]
                        )
                    except PrefectHTTPStatusError:
                        await asyncio.sleep(0.3)
                        continue
                    if expect not in description:
                        raise AssertionError(f"expected a question about {expect!r}, got:\n{description}")
                    self.key = state.state_details.pause_key
                    await resume_with(run, answer)
                    return description
                if state and state.is_final() and not state.is_completed():
                    raise RuntimeError(f"flow run {run.name} ended {state.type.value}: {state.message}")
                await asyncio.sleep(LOOK_SECONDS)
        raise TimeoutError(f"no question about {expect!r} within {timeout:.0f} s")
