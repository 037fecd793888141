"""Acts outside the normal course: re-open, extend a deadline, reassign, withdraw. Each is audited.

A deployment's parameters name the case and the act, never free text: the reason is asked in the
run's Resume dialog once it starts, screened by the core against the child's identity, applied,
and then deleted from Prefect (see :func:`flows.prompts.forget_answer`). A flow-run parameter
would keep whatever was typed for the life of the run.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from enum import StrEnum
from typing import Annotated

from prefect import flow, get_run_logger
from pydantic import Field

from flows.common import case_store
from flows.prompts import ask, case_subject, forget_answer
from flows.remediation.answers import ActReasonAnswer
from flows.remediation.artifacts import publish_case
from flows.remediation.lifecycle import CASE_REFERENCE
from flows.remediation.runs import cancel_waiting_lifecycles, start_lifecycle
from flows.remediation.stages import EXTENDABLE_STEPS
from remediation_core import casework as cw
from remediation_core.errors import RemediationError
from remediation_core.store import CaseStore

Reference = Annotated[str, CASE_REFERENCE]
By = Annotated[
    str, Field(min_length=2, title="Your name or email", description="Recorded in the audit trail.")
]


#: The steps a person answers for, from the lifecycle's declared questions.
ExtendableStep = StrEnum("ExtendableStep", {step.upper(): step for step in EXTENDABLE_STEPS})  # type: ignore[misc]


class WithdrawalReason(StrEnum):
    NOT_A_CHILD = "not_a_child"
    DUPLICATE = "duplicate"
    REPORTED_IN_ERROR = "reported_in_error"


async def _ask_reason(reference: str, what: str, asked_of: str) -> tuple[CaseStore, ActReasonAnswer]:
    """Suspend until the person who started the act gives its reason in the Resume dialog."""
    store = await case_store()
    view = cw.case_view(store, reference)  # an unknown case fails here, before anyone is asked
    answer = await ask(
        store,
        case_subject(view),
        f"{reference}-{what}",
        ActReasonAnswer,
        question=f"Why this {what}? The reason goes in the case's audit trail",
        asked_of=asked_of,
        due=None,
    )
    return store, answer


async def _apply(
    reference: str,
    what: str,
    store: CaseStore,
    answer: ActReasonAnswer,
    act: Callable[[CaseStore, str], cw.CaseView],
) -> cw.CaseView:
    """Apply the act with the answer's reason, then delete the answer from Prefect, applied or not."""
    logger = get_run_logger()
    try:
        view = act(store, answer.reason)
    except RemediationError as error:
        logger.error("%s: %s refused, nothing changed: %s", reference, what, error)
        raise
    finally:
        await forget_answer(answer)
    logger.info("%s: %s done; the case is %s", reference, what, view.state)
    await publish_case(view)
    return view


async def _act(
    reference: str, what: str, asked_of: str, act: Callable[[CaseStore, str], cw.CaseView]
) -> cw.CaseView:
    store, answer = await _ask_reason(reference, what, asked_of)
    return await _apply(reference, what, store, answer, act)


@flow(name="re-open-a-case", description="Re-open a closed or monitored case: a new remediation plan round.")
async def reopen_a_case(case_reference: Reference, reopened_by: By) -> str:
    """Re-open the case (the reason is asked once the run starts) and start its new round's lifecycle."""
    store, answer = await _ask_reason(case_reference, "re-opening", reopened_by)
    await cancel_waiting_lifecycles(case_reference)
    view = await _apply(
        case_reference,
        "re-opening",
        store,
        answer,
        lambda store, reason: cw.reopen_case(store, case_reference, reopened_by, reason),
    )
    await start_lifecycle(view.reference, view.round)
    return view.state


@flow(
    name="grant-an-extension",
    description="Move an open milestone's deadline, with a reason; the enterprise is told.",
)
async def grant_an_extension(
    case_reference: Reference,
    step: ExtendableStep,
    granted_by: By,
    new_due_at: dt.datetime | None = None,
    working_days: Annotated[int | None, Field(ge=1, le=120)] = None,
) -> str:
    """Move the step's deadline (the reason is asked once the run starts); returns the new due date."""
    view = await _act(
        case_reference,
        "extension",
        granted_by,
        lambda store, reason: cw.grant_extension(
            store,
            case_reference,
            str(step),
            granted_by,
            reason,
            new_due_at=new_due_at,
            working_days=working_days,
        ),
    )
    milestone = view.milestone(str(step))
    return milestone.due_local if milestone else view.state


@flow(name="reassign-a-case", description="Hand a case to another case manager.")
async def reassign_a_case(case_reference: Reference, case_manager_email: str, reassigned_by: By) -> str:
    """Hand the case over (the reason is asked once the run starts); returns the new case manager."""
    view = await _act(
        case_reference,
        "reassignment",
        reassigned_by,
        lambda store, reason: cw.reassign_case(
            store, case_reference, case_manager_email, reassigned_by, reason
        ),
    )
    return view.case_manager or ""


@flow(name="withdraw-a-case", description="Record that a case was withdrawn (not a child, a duplicate...).")
async def withdraw_a_case(case_reference: Reference, why: WithdrawalReason, withdrawn_by: By) -> str:
    """Withdraw the case (the details are asked once the run starts) and cancel its waiting lifecycle."""
    view = await _act(
        case_reference,
        "withdrawal",
        withdrawn_by,
        lambda store, details: cw.withdraw_case(store, case_reference, withdrawn_by, f"{why}: {details}"),
    )
    await cancel_waiting_lifecycles(case_reference)
    return view.state
