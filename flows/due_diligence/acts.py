"""Acts on a due-diligence cycle outside its normal course, started from the Prefect UI. Each is audited.

As for a case's acts (flows/remediation/acts.py), the parameters name the cycle and the act, never
free text: the reason is asked in the run's Resume dialog once it starts, and the answer is deleted
from Prefect once the core has applied it.
"""

from __future__ import annotations

from typing import Annotated

from prefect import flow, get_run_logger
from pydantic import Field

from remediation_flows.core.cycle_links import reissue_cycle_link
from remediation_flows.core.errors import RemediationError
from remediation_flows.flows.common import case_store
from remediation_flows.flows.prompts import ask, forget_answer
from remediation_flows.flows.remediation.acts import By
from remediation_flows.flows.remediation.answers import ActReasonAnswer

CycleReference = Annotated[
    str,
    Field(
        pattern=r"^DD-[a-z0-9][a-z0-9-]{0,62}-\d{4}$",
        title="Cycle reference",
        examples=["DD-northwind-apparel-2026"],
    ),
]
Question = Annotated[
    str,
    Field(
        min_length=2,
        title="Question or step",
        description="As the link's email names it (risk-dhaka-knit-01), or the step (risk_assessment).",
    ),
]


@flow(
    name="re-issue-a-cycle-task-link",
    description="Email a person a new link for a due-diligence question; the old one stops working.",
)
async def reissue_a_cycle_task_link(
    cycle_reference: CycleReference,
    question: Question,
    recipient_email: Annotated[
        str, Field(title="Sent to", description="The address the earlier link was emailed to.")
    ],
    reissued_by: By,
) -> str:
    """Re-issue the link (the reason is asked once the run starts); returns the question asked.

    The question, role and site stay the earlier link's; a cycle or person without one is refused
    with the core's message, and the run fails with it.
    """
    logger = get_run_logger()
    store = await case_store()
    answer = await ask(
        store,
        f"Due-diligence cycle {cycle_reference}",
        f"{cycle_reference}-re-issue-{question}",
        ActReasonAnswer,
        question="Why this re-issue? The reason goes in the cycle's audit trail",
        asked_of=reissued_by,
        due=None,
    )
    try:
        reissue_cycle_link(
            store, cycle_reference, question, recipient_email, actor=reissued_by, reason=answer.reason
        )
    except RemediationError as error:
        logger.error("%s: re-issue refused, nothing changed: %s", cycle_reference, error)
        raise
    finally:
        await forget_answer(answer)
    # Never the link itself: its token lets whoever holds it answer as that person.
    logger.info("%s: a new link for %s was emailed; the old one is void", cycle_reference, question)
    return question
