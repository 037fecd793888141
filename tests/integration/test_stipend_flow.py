"""A stipend paid late escalates: the sweep escalates the overdue payment to the director, and the
payer's late confirmation, typed by staff in confirm-a-stipend-payment's Resume form on the real
Prefect server, is recorded late and opens the next month.

One flow run only, to keep the suite fast: the case reaches an accepted plan through the core (its
lifecycle is not what this tests), and the sweep is the core's, which the escalation-sweep
deployment runs (that deployment is run for real by test_operations.py and test_running_product.py).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time

import pytest
from sqlalchemy import select

from remediation_flows.core import casework as cw
from remediation_flows.core.config.loader import load_programme_file
from remediation_flows.core.escalation import sweep
from remediation_flows.core.store.schema import AuditEvent, Milestone, MilestoneEscalation, OutboxMessage
from remediation_flows.stack.answering import RunAnswerer
from tests.conftest import EXAMPLES
from tests.unit.test_stipends import CASE_MANAGER, PAYER, accepted_case, backdate_open_payment

pytestmark = pytest.mark.prefect


async def test_a_stipend_paid_late_escalates(deployed):
    from prefect.client.orchestration import get_client
    from prefect.deployments import arun_deployment

    store = deployed.store
    programme = load_programme_file(EXAMPLES / "garment_brand.yaml")
    reference = accepted_case(store, programme)
    due_on = backdate_open_payment(store, reference, days=20)
    [line] = cw.stipend_ledger(store, reference)

    escalated_now = [e for e in sweep(store).escalations if e.case_reference == reference]
    assert [e.level_name for e in escalated_now] == ["director"]
    with store.transaction() as session:
        milestone = session.scalars(select(Milestone).where(Milestone.key == line.milestone_key)).one()
        fired = session.scalars(
            select(MilestoneEscalation.level_name).where(MilestoneEscalation.milestone_id == milestone.id)
        ).all()
        assert "director" in fired, fired
        escalated = session.scalars(
            select(OutboxMessage).where(
                OutboxMessage.milestone_id == milestone.id, OutboxMessage.kind == "escalation"
            )
        ).all()
        assert escalated and all("Stipend payment" in m.subject for m in escalated)

    run = await arun_deployment(
        "confirm-a-stipend-payment/confirm-a-stipend-payment",
        parameters={"case_reference": reference, "entered_by": CASE_MANAGER},
        timeout=0,
        as_subflow=False,
    )
    description = await RunAnswerer(run.id).answer(
        "Confirm the payment of Monthly stipend 1: BDT8,000.00",
        {
            "answered_by": CASE_MANAGER,
            "on_behalf_of": PAYER,
            "on_behalf_reason": "the payer sent the bank slip by post",
            "amount": 8000,
            "currency": "BDT",
            "paid_on": dt.date.today().isoformat(),
            "payment_reference": "DBBL-TRX-55120",
        },
    )
    assert f"Due by** {due_on.isoformat()}" in description
    deadline = time.time() + 120
    async with get_client() as client:
        while not (run := await client.read_flow_run(run.id)).state.is_final():
            assert time.time() < deadline, run.state
            await asyncio.sleep(0.4)
        assert run.state.is_completed(), run.state

    first, second = cw.stipend_ledger(store, reference)
    assert (first.settled_on, first.on_time) == (dt.date.today(), False)
    assert second.number == 2 and second.settled_on is None
    with store.transaction() as session:
        [audit] = session.scalars(
            select(AuditEvent).where(
                AuditEvent.action == "stipend_payment_confirmed", AuditEvent.entity_id == reference
            )
        ).all()
        assert audit.actor == f"entered in the Prefect UI by {CASE_MANAGER} on behalf of {PAYER}"
        assert (audit.details["outcome"], audit.details["verified"]) == ("late", False)
