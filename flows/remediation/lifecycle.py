"""A case's lifecycle: one run per case and round, suspended whenever it waits for a person.

The run holds no truth of its own. Each time it starts or resumes it reads the
case from the store and asks for whatever the case is waiting on, so a run
resumed after a restart or a code change does no step twice; nor does a run
resumed with an answer the task page already applied (it settles it and asks
the next question).
"""

from __future__ import annotations

from typing import Annotated

from prefect import flow, get_run_logger
from pydantic import Field

from remediation_flows.core import casework as cw
from remediation_flows.flows.common import case_store
from remediation_flows.flows.prompts import settle_unread_answers
from remediation_flows.flows.remediation.artifacts import publish_case
from remediation_flows.flows.remediation.stages import ask_and_apply, question_for

CASE_REFERENCE = Field(pattern=r"^CL-\d{4}-\d{6}$", title="Case reference", examples=["CL-2026-000123"])


@flow(
    name="case-lifecycle",
    description="Runs one case from on-site assessment to closure, asking people for input.",
)
async def case_lifecycle(case_reference: Annotated[str, CASE_REFERENCE]) -> str:
    """Drive the case through its stages until it is closed or withdrawn; returns the final state."""
    logger = get_run_logger()
    store = await case_store()
    # Answers the task page applied and then resumed this run with: the store has moved past them.
    await settle_unread_answers(store, case_reference)
    while True:
        view = cw.case_view(store, case_reference)
        await publish_case(view)
        if view.is_finished:
            logger.info("%s is %s", view.reference, view.state)
            return view.state
        question = question_for(view)
        if question is None:
            raise RuntimeError(f"{view.reference} is in state '{view.state}', which no stage handles")
        logger.info("%s: %s (round %s)", view.reference, view.state, view.round)
        await ask_and_apply(store, view, question)
