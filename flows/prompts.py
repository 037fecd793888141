"""Asking a person for input from a suspended flow run, and applying the answer through the core.

A prompt is keyed by the case, its round and the question; if the core refuses
an answer, the refusal is audited in the store and the next prompt carries a
new key, so a resumed run asks again instead of replaying the refused answer.
Once applied or refused, the answer is deleted from Prefect: the case store is
its only record, and free text that named a child lingers nowhere.

An answer given through a task link is applied by the task page within its
request; the page then resumes the run with it. The run starts again from the
store, which has moved on, so it never reads that answer: it settles it
(:func:`settle_unread_answers`) and asks the next question.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, TypeVar

from prefect import get_run_logger
from prefect.client.orchestration import get_client
from prefect.context import FlowRunContext
from prefect.flow_runs import suspend_flow_run
from prefect.input import RunInput

from remediation_flows.core import casework as cw
from remediation_flows.core.choices import form_values
from remediation_flows.core.errors import RemediationError
from remediation_flows.core.store import CaseStore
from remediation_flows.core.task_links import (
    VerifiedAnswer,
    applied_or_given_answers,
    has_applied_answers,
)

Answer = TypeVar("Answer", bound=RunInput)


def prompt_markdown(subject: str, question: str, asked_of: str, due: str | None, refusal: str | None) -> str:
    """The Resume dialog's text: what is asked, about what, of whom and by when. Never a child's identity."""
    lines = [f"### {question}", "", f"- **{subject}**", f"- **Asked of** {asked_of}"]
    if due:
        lines.append(f"- **Due by** {due}")
    if refusal:
        lines += [
            "",
            f"> **The previous answer was refused:** {refusal}",
            "> Please correct it and submit again.",
        ]
    lines += ["", "Use references only; never a child's name, birth date, address or school."]
    return "\n".join(lines)


def case_subject(view: cw.CaseView) -> str:
    return f"Case {view.reference} at {view.site_name} ({view.site_id}), enterprise {view.enterprise_id}"


def input_key(store: CaseStore, prompt_key: str) -> str:
    """The key a run suspends under for ``prompt_key``: a new one after each refused answer.

    The task page reads it too, to record which suspension a link's answer was given to.
    """
    refused, _ = cw.refusals(store, prompt_key)
    # Prefect input keys allow lowercase letters, digits and dashes only.
    return re.sub(r"[^a-z0-9-]", "-", f"{prompt_key}-{refused}".lower())


async def ask(
    store: CaseStore,
    subject: str,
    prompt_key: str,
    answer_type: type[Answer],
    *,
    question: str,
    asked_of: str,
    due: str | None,
) -> Answer:
    """Suspend until a person answers ``question``; a refused earlier answer is named in the dialog."""
    _, last_reason = cw.refusals(store, prompt_key)
    key = input_key(store, prompt_key)
    return await suspend_flow_run(
        wait_for_input=answer_type.with_initial_data(
            description=prompt_markdown(subject, question, asked_of, due, last_reason)
        ),
        key=key,
        timeout=None,
    )


async def forget_answer(answer: RunInput) -> None:
    """Delete the answer Prefect keeps as a run input; the case store holds what was accepted.

    Prefect keeps a run input for as long as the run (forever, by default): a reason or a finding
    that named a child, refused by the core's screen, would otherwise stay readable in the UI and
    the API. The description and the form's schema, which hold no answer, stay.
    """
    async with get_client() as client:
        await client.delete_flow_run_input(answer.metadata.receiver, answer.metadata.key)


async def apply(
    store: CaseStore,
    reference: str,
    prompt_key: str,
    answer: RunInput,
    act: Callable[[], object],
    *,
    actor: str | None = None,
) -> bool:
    """Run the core act on ``answer``; a refusal is logged and audited (nothing else changes).

    ``actor`` is who answered, when known better than the form says (a verified task link).
    Either way the answer is then deleted from Prefect. True if applied.
    """
    logger = get_run_logger()
    actor = actor or answer.answered_by  # type: ignore[attr-defined]  # every form has it
    try:
        act()
    except RemediationError as error:
        # A free text naming a child is refused by field, never by what matched: safe to log and audit.
        logger.error("%s: answer refused: %s", reference, error)
        cw.record_refusal(store, prompt_key, str(error), actor, reference)
        return False
    finally:
        await forget_answer(answer)
    logger.info("%s: answer recorded by %s", reference, actor)
    return True


#: Prefect keeps a suspension's inputs under ``suspended-<pause key>-<part>`` (``keyset_from_paused_state``).
SUSPENDED = "suspended-"
RESPONSE = "-response"


def same_answer(schema: dict[str, Any], given: dict[str, Any], recorded: dict[str, Any]) -> bool:
    """Whether the input ``given`` to a form is the answer a link ``recorded`` (choices as words or codes)."""

    def normal(answer: dict[str, Any]) -> dict[str, Any]:
        return form_values(schema, {name: value for name, value in answer.items() if value is not None})

    return normal(given) == normal(recorded)


def applied_by_link(store: CaseStore, key: str) -> VerifiedAnswer | None:
    """The link answer the task page already applied to the suspension ``key``, if any."""
    found = applied_or_given_answers(store, [key]).get(key)
    return found if found is not None and found.applied_at is not None else None


def refuse_crossed_answer(
    store: CaseStore, reference: str, key: str, given: dict[str, Any], link: VerifiedAnswer
) -> None:
    """Audit an answer typed in the Prefect UI for a step a task link had already answered: not applied."""
    actor = str(given.get("answered_by") or "someone in the Prefect UI")
    message = (
        f"this step was already answered through the task link of {link.recipient}; "
        "the answer entered in the Prefect UI was not applied"
    )
    get_run_logger().error("%s: answer refused: %s", reference, message)
    cw.record_refusal(store, key, message, actor, reference)


async def settle_unread_answers(store: CaseStore, reference: str) -> list[str]:
    """Delete the answers this run was resumed with that the task page had already applied.

    The run never reads them (it asks the store's next question instead), and an unread input
    would keep the answer in Prefect for the life of the run. An input that is not the link's
    answer was typed in the Prefect UI for a step the link answered first (the two crossed): it is
    refused and audited, never applied. Returns the suspension keys settled.
    """
    context = FlowRunContext.get()
    if context is None or context.flow_run is None or not has_applied_answers(store, reference):
        return []  # one query in the store spares a call to Prefect on every resume of most cases
    run_id = context.flow_run.id
    async with get_client() as client:
        inputs = {
            stored.key: stored
            for stored in await client.filter_flow_run_input(
                run_id, key_prefix=SUSPENDED, limit=1000, exclude_keys=set()
            )
        }
        responses = {
            key.removeprefix(SUSPENDED).removesuffix(RESPONSE): stored
            for key, stored in inputs.items()
            if key.endswith(RESPONSE)
        }
        settled = []
        for key, link in applied_or_given_answers(store, responses).items():
            if link.applied_at is None:
                continue  # a link answer of before the page applied answers: the run applies it
            given = responses[key].decoded_value
            schema = inputs.get(f"{SUSPENDED}{key}-schema")
            if not same_answer(schema.decoded_value if schema else {}, given, link.answer):
                refuse_crossed_answer(store, reference, key, given, link)
            await client.delete_flow_run_input(run_id, responses[key].key)
            settled.append(key)
    if settled:
        get_run_logger().info(
            "%s: the task page had applied %s already; the run goes on from there",
            reference,
            "1 answer" if len(settled) == 1 else f"{len(settled)} answers",
        )
    return settled
