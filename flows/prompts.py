"""Asking a person for input from a suspended flow run, and applying the answer through the core.

A prompt is keyed by the case, its round and the question; if the core refuses
an answer, the refusal is audited in the store and the next prompt carries a
new key, so a resumed run asks again instead of replaying the refused answer.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TypeVar

from prefect import get_run_logger
from prefect.flow_runs import suspend_flow_run
from prefect.input import RunInput

from remediation_flows.core import casework as cw
from remediation_flows.core.errors import RemediationError
from remediation_flows.core.store import CaseStore

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


def apply(store: CaseStore, reference: str, prompt_key: str, actor: str, act: Callable[[], object]) -> bool:
    """Run the core act; a refusal is logged and audited (nothing else changes). True if applied."""
    logger = get_run_logger()
    try:
        act()
    except RemediationError as error:
        logger.error("%s: answer refused: %s", reference, error)
        cw.record_refusal(store, prompt_key, str(error), actor, reference)
        return False
    logger.info("%s: answer recorded by %s", reference, actor)
    return True
