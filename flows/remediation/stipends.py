"""The stipend ledger from the Prefect UI: staff record a payer's confirmation of one payment.

The payer confirms by the personal link in their payment email (the task page, verified). When the
confirmation reaches the NGO another way (a receipt by post, a call), staff start
``confirm-a-stipend-payment`` with the case and their name; the run waits, *Suspended*, and its
Resume button asks for the payer, the amount, the day and the payment's reference. The core
checks the payer's role at the site, screens the reference, records the payment against the
case's oldest open line and audits it as entered by staff on the payer's behalf; the answer is
then deleted from Prefect.

``record-interim-support`` opens a ledger line for interim support (continued wages between the
child's removal and the plan), whose payer confirms it the same way.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated

from prefect import flow, get_run_logger
from pydantic import Field

from remediation_flows.core import casework as cw
from remediation_flows.core.approvals import Decider
from remediation_flows.core.errors import RemediationError
from remediation_flows.core.mail.i18n import step_title
from remediation_flows.core.money import format_money
from remediation_flows.flows.common import case_store
from remediation_flows.flows.prompts import ask, case_subject, forget_answer
from remediation_flows.flows.remediation.acts import By, Reference
from remediation_flows.flows.remediation.answers import StipendPaymentAnswer
from remediation_flows.flows.remediation.artifacts import publish_case

CHANNEL = "the Prefect UI"


@flow(
    name="confirm-a-stipend-payment",
    description="Record a payer's confirmation of the case's next stipend or interim-support payment.",
)
async def confirm_a_stipend_payment(case_reference: Reference, entered_by: By) -> str:
    """Ask for the payment's facts in the Resume dialog and record them; returns the line's status."""
    logger = get_run_logger()
    store = await case_store()
    view = cw.case_view(store, case_reference)
    line = cw.payment_awaited(store, case_reference)  # none awaited: the run fails here, asking nobody
    title = f"{step_title('en', line.purpose)} {line.number}"
    answer = await ask(
        store,
        case_subject(view),
        f"{case_reference}-r{view.round}-{line.purpose}-{line.number}-confirmation",
        StipendPaymentAnswer,
        question=f"Confirm the payment of {title}: {format_money(line.amount_due, line.currency, 'en')}",
        asked_of=entered_by,
        due=line.due_on.isoformat(),
    )
    decider = Decider(
        person=answer.on_behalf_of,
        verified=False,
        entered_by=answer.answered_by,
        channel=CHANNEL,
        on_behalf_reason=answer.on_behalf_reason,
    )
    confirmation = cw.PaymentConfirmation(
        Decimal(str(answer.amount)), answer.currency, answer.paid_on, answer.payment_reference
    )
    try:
        recorded = cw.confirm_payment(
            store,
            case_reference,
            confirmation,
            decider,
            purpose=cw.PaymentPurpose(line.purpose),
            number=line.number,
        )
    except RemediationError as error:
        logger.error("%s: payment confirmation refused, nothing changed: %s", case_reference, error)
        raise
    finally:
        await forget_answer(answer)
    status = recorded.status(dt.date.today())
    logger.info("%s: %s %s", case_reference, title, status)
    await publish_case(cw.case_view(store, case_reference))
    return status


@flow(
    name="record-interim-support",
    description="Record interim support (continued wages) owed between the child's removal and the plan.",
)
async def record_interim_support(
    case_reference: Reference,
    amount: Annotated[float, Field(gt=0, title="Amount owed")],
    currency: Annotated[str, Field(pattern="^[A-Z]{3}$", title="Currency (ISO 4217)")],
    due_on: dt.date,
    recorded_by: By,
) -> str:
    """Open the ledger line and ask the payer to pay and confirm it (no free text, so no wait)."""
    logger = get_run_logger()
    store = await case_store()
    try:
        line = cw.record_interim_support(store, case_reference, str(amount), currency, due_on, recorded_by)
    except RemediationError as error:
        logger.error("%s: interim support refused, nothing changed: %s", case_reference, error)
        raise
    logger.info("%s: %s", case_reference, line.describe("en", dt.date.today()))
    await publish_case(cw.case_view(store, case_reference))
    return line.milestone_key
