"""Acts outside the normal course: re-open, extend or hold a deadline, re-issue a task link, reassign,
withdraw. Each is audited.

A deployment's parameters name the case and the act, never free text: the reason is asked in the
run's Resume dialog once it starts, screened by the core against the child's identity, applied,
and then deleted from Prefect (see :func:`remediation_flows.flows.prompts.forget_answer`). A flow-run
parameter would keep whatever was typed for the life of the run. A hold takes one of the named
reasons only; its note, if any, is given on the command line and stays in the case store.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from enum import StrEnum
from typing import Annotated

from prefect import flow, get_run_logger
from pydantic import Field

from remediation_flows.core import casework as cw
from remediation_flows.core.choices import accepts_words
from remediation_flows.core.errors import RemediationError
from remediation_flows.core.holds import HoldReason, hold_milestone, release_milestone
from remediation_flows.core.store import CaseStore
from remediation_flows.core.task_links import reissue_link
from remediation_flows.flows.common import case_store
from remediation_flows.flows.prompts import ask, case_subject, forget_answer
from remediation_flows.flows.remediation.answers import ActReasonAnswer
from remediation_flows.flows.remediation.artifacts import publish_case
from remediation_flows.flows.remediation.lifecycle import CASE_REFERENCE
from remediation_flows.flows.remediation.runs import cancel_waiting_lifecycles, start_lifecycle
from remediation_flows.flows.remediation.stages import EXTENDABLE_STEPS

Reference = Annotated[str, CASE_REFERENCE]
By = Annotated[
    str, Field(min_length=2, title="Your name or email", description="Recorded in the audit trail.")
]


#: The steps a person answers for, from the lifecycle's declared questions.
ExtendableStep = StrEnum("ExtendableStep", {step.upper(): step for step in EXTENDABLE_STEPS})  # type: ignore[misc]


#: Hold reasons a form may give. 'other' needs a free-text note, which may name a child and so
#: never passes through Prefect: give it with `remediate milestone hold` instead.
FormHoldReason = StrEnum(  # type: ignore[misc]
    "FormHoldReason", {r.name: r.value for r in HoldReason if r is not HoldReason.OTHER}
)


class WithdrawalReason(StrEnum):
    NOT_A_CHILD = "not_a_child"
    DUPLICATE = "duplicate"
    REPORTED_IN_ERROR = "reported_in_error"


# The forms show these choices in words (remediation_flows.core.choices); the API may send codes.
Step = Annotated[ExtendableStep, accepts_words(ExtendableStep)]
HoldWhy = Annotated[FormHoldReason, accepts_words(FormHoldReason)]
WithdrawalWhy = Annotated[WithdrawalReason, accepts_words(WithdrawalReason)]


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


async def _act_at_once(reference: str, what: str, act: Callable[[CaseStore], cw.CaseView]) -> cw.CaseView:
    """An act whose form says all it needs (a named reason, no free text): applied without a wait."""
    logger = get_run_logger()
    store = await case_store()
    try:
        view = act(store)
    except RemediationError as error:
        logger.error("%s: %s refused, nothing changed: %s", reference, what, error)
        raise
    logger.info("%s: %s done; the case is %s", reference, what, view.state)
    await publish_case(view)
    return view


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
    step: Step,
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


@flow(
    name="hold-a-milestone",
    description="Stop a milestone's clock and escalation, with a reason (school term, guardian away...).",
)
async def hold_a_milestone(case_reference: Reference, step: Step, reason: HoldWhy, held_by: By) -> str:
    def hold(store: CaseStore) -> cw.CaseView:
        hold_milestone(store, case_reference, str(step), actor=held_by, reason=str(reason))
        return cw.case_view(store, case_reference)

    view = await _act_at_once(case_reference, "hold", hold)
    milestone = view.milestone(str(step))
    return milestone.on_hold if milestone else view.state


@flow(
    name="release-a-milestone",
    description="End a milestone's hold: its deadline moves by the time held and escalation resumes.",
)
async def release_a_milestone(case_reference: Reference, step: Step, released_by: By) -> str:
    def release(store: CaseStore) -> cw.CaseView:
        release_milestone(store, case_reference, str(step), actor=released_by)
        return cw.case_view(store, case_reference)

    view = await _act_at_once(case_reference, "release", release)
    milestone = view.milestone(str(step))
    return milestone.due_local if milestone else view.state


@flow(
    name="re-issue-a-task-link",
    description="Email a person a new link for a task (lost or expired); the old one stops working.",
)
async def reissue_a_task_link(
    case_reference: Reference,
    step: Step,
    recipient_email: Annotated[
        str, Field(title="Sent to", description="The address the earlier link was emailed to.")
    ],
    reissued_by: By,
) -> str:
    """Re-issue the link (the reason is asked once the run starts); task and role stay the first link's."""

    def reissue(store: CaseStore, reason: str) -> cw.CaseView:
        reissue_link(store, case_reference, str(step), recipient_email, actor=reissued_by, reason=reason)
        return cw.case_view(store, case_reference)

    view = await _act(case_reference, "re-issue", reissued_by, reissue)
    return view.state


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
async def withdraw_a_case(case_reference: Reference, why: WithdrawalWhy, withdrawn_by: By) -> str:
    """Withdraw the case (the details are asked once the run starts) and cancel its waiting lifecycle."""
    view = await _act(
        case_reference,
        "withdrawal",
        withdrawn_by,
        lambda store, details: cw.withdraw_case(store, case_reference, withdrawn_by, f"{why}: {details}"),
    )
    await cancel_waiting_lifecycles(case_reference)
    return view.state
