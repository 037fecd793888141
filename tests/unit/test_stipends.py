"""The stipend ledger on SQLite and PostgreSQL: lines, confirmations, escalation by the real sweep."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import select

from remediation_flows.core import casework as cw
from remediation_flows.core.approvals import Decider
from remediation_flows.core.casework.stipends import payment_day_after
from remediation_flows.core.config.loader import ConfigInvalid, load_programme_document, read_yaml_file
from remediation_flows.core.config.model import StipendRule
from remediation_flows.core.errors import InvalidInput, NotFound
from remediation_flows.core.escalation import sweep
from remediation_flows.core.kpis import compute_kpis
from remediation_flows.core.ladder import Calendars, next_escalation_at
from remediation_flows.core.money import as_amount, format_money
from remediation_flows.core.store import repository as repo
from remediation_flows.core.store.schema import (
    AuditEvent,
    Milestone,
    MilestoneEscalation,
    OutboxMessage,
    StipendInstalment,
    StipendPayment,
)
from tests.conftest import EXAMPLES
from tests.unit.test_task_links import assessed_case

CASE_MANAGER = "rahim.uddin@ngo.example"
SUPERVISOR = "chen.jing@ngo.example"
PAYER = "compliance@northwind-apparel.example"  # the Dhaka site's focal point
OTHER_FOCAL_POINT = "vn.compliance@northwind-apparel.example"  # Viet Nam's: not this site's payer
SITE = "dhaka-knit-01"


def accepted_case(store, programme, stipend: str = "8000") -> str:
    """A Dhaka case whose plan (a monthly stipend in BDT) every role has accepted."""
    reference = assessed_case(store, programme)
    proposal = cw.PlanProposal(
        pathway=cw.Pathway.SCHOOLING,
        monthly_stipend=Decimal(stipend),
        currency="BDT",
        school_fees=Decimal("1500"),
        payer=cw.Payer.SUPPLIER,
    )
    cw.propose_plan(store, reference, proposal, CASE_MANAGER)
    cw.decide_plan(store, reference, "supervisor", True, SUPERVISOR)
    cw.decide_plan(store, reference, "enterprise_focal_point", True, PAYER)
    return reference


def backdate_open_payment(store, reference: str, days: int) -> dt.date:
    """Move the case's open payment back so that it fell due ``days`` ago, its ladder re-aimed as created."""
    with store.transaction() as session:
        case = repo.get_case(session, reference)
        instalment, milestone = cw.stipends.open_instalment(session, case)
        programme = repo.programme_of(session, case)
        due_on = dt.date.today() - dt.timedelta(days=days)
        zone = Calendars({programme.fingerprint: programme}).of(programme.fingerprint, SITE)
        milestone.due_at = dt.datetime.combine(due_on, dt.time(23, 59, 59), tzinfo=zone.zone)
        milestone.next_escalation_at = next_escalation_at(
            programme, zone, "stipend_payment", milestone.due_at, -1
        )
        instalment.due_on = due_on
        return due_on


def staff_for_payer(reason: str | None = "the receipt came by post") -> Decider:
    return Decider(
        person=PAYER,
        verified=False,
        entered_by=CASE_MANAGER,
        channel="the Prefect UI",
        on_behalf_reason=reason,
    )


def paid(amount: str, on: dt.date, reference: str = "BKASH-7731") -> cw.PaymentConfirmation:
    return cw.PaymentConfirmation(Decimal(amount), "BDT", on, reference)


def test_payment_day_after_counts_from_the_day_after():
    rule = StipendRule(payment_day=5)
    assert payment_day_after(rule, dt.date(2027, 1, 4)) == dt.date(2027, 1, 5)
    assert payment_day_after(rule, dt.date(2027, 1, 5)) == dt.date(2027, 2, 5)
    assert payment_day_after(rule, dt.date(2027, 12, 20)) == dt.date(2028, 1, 5)
    assert payment_day_after(StipendRule(payment_day=28), dt.date(2027, 2, 1)) == dt.date(2027, 2, 28)


def test_payment_day_is_configured_and_validated():
    document = read_yaml_file(EXAMPLES / "garment_brand.yaml")
    assert load_programme_document(document, "g.yaml").stipends == StipendRule(payment_day=5, months=12)
    document["remediation"]["stipends"] = {"payment_day": 31}
    with pytest.raises(ConfigInvalid) as caught:
        load_programme_document(document, "g.yaml")
    assert "$.remediation.stipends.payment_day: 31 is greater than the maximum of 28" in str(caught.value)


def test_amounts_are_shown_in_the_readers_locale_with_the_currency():
    assert format_money(Decimal("8000"), "BDT", "en") == "BDT8,000.00"
    assert format_money(Decimal("1500.5"), "MXN", "es") == "1.500,50\xa0MXN"
    assert format_money(Decimal("8000"), "BDT", "zh") == "BDT8,000.00"
    assert format_money(Decimal("2000000"), "VND", "en") == "₫2,000,000"  # no minor units
    assert as_amount(1500.1, "MXN", "x") == Decimal("1500.10")  # a form's float, read by its text
    with pytest.raises(InvalidInput, match="amount 10.005 has more decimals than BDT counts"):
        as_amount("10.005", "BDT", "amount")
    with pytest.raises(InvalidInput, match="more decimals than VND"):
        as_amount("10.5", "VND", "amount")


def test_an_accepted_plan_opens_the_first_monthly_payment_for_the_sites_payer(store, garment_brand):
    reference = accepted_case(store, garment_brand)
    [line] = cw.stipend_ledger(store, reference)
    expected_day = payment_day_after(garment_brand.stipends, dt.datetime.now(dt.UTC).date())
    assert (line.purpose, line.number, line.amount_due, line.currency) == (
        "stipend",
        1,
        Decimal("8000.00"),
        "BDT",
    )
    assert line.due_on == expected_day and line.settled_on is None
    with store.transaction() as session:
        milestone = session.scalars(select(Milestone).where(Milestone.key == line.milestone_key)).one()
        assert (milestone.kind, milestone.owner_role) == ("stipend_payment", "enterprise_focal_point")
        local = milestone.due_at.astimezone(dt.timezone(dt.timedelta(hours=6)))  # Asia/Dhaka
        assert (local.date(), local.time()) == (expected_day, dt.time(23, 59, 59))
        [mail] = session.scalars(
            select(OutboxMessage).where(OutboxMessage.milestone_id == milestone.id)
        ).all()
        assert mail.recipients == [PAYER]  # the Dhaka site's focal point, not Viet Nam's
        text = " ".join(mail.body_text.split())
        assert "Pay Monthly stipend 1 of BDT8,000.00 to the family" in text and "/stipend_payment/" in text
        review = session.scalars(
            select(OutboxMessage).where(OutboxMessage.subject.like("%Remediation plan%"))
        )
        assert all("8000.0 " not in m.body_text for m in review)


def test_a_late_payment_escalates_through_the_sweep_and_is_recorded_late(store, garment_brand):
    reference = accepted_case(store, garment_brand)
    due_on = backdate_open_payment(store, reference, days=20)
    result = sweep(store)
    [escalation] = [e for e in result.escalations if e.case_reference == reference]
    assert escalation.step == "stipend_payment" and escalation.level_name == "director"
    line = cw.confirm_payment(store, reference, paid("8000", dt.date.today()), staff_for_payer())
    assert line.status(dt.date.today()) == "paid late" and not line.on_time
    first, second = cw.stipend_ledger(store, reference)
    # The plan's schedule holds: a late payment does not push the next month back.
    assert (second.number, second.due_on, second.settled_on) == (
        2,
        due_on.replace(month=due_on.month % 12 + 1, year=due_on.year + due_on.month // 12),
        None,
    )
    with store.transaction() as session:
        milestone = session.scalars(select(Milestone).where(Milestone.key == first.milestone_key)).one()
        assert milestone.status == "done"
        firings = session.scalars(
            select(MilestoneEscalation).where(MilestoneEscalation.milestone_id == milestone.id)
        ).all()
        fired = {name for firing in firings for name, _ in firing.levels}
        assert fired == {"reminder", "due", "program-manager", "director"}
        [audit] = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "stipend_payment_confirmed")
        ).all()
        assert audit.actor == f"entered in the Prefect UI by {CASE_MANAGER} on behalf of {PAYER}"
        assert audit.reason == "the receipt came by post"
        assert (audit.details["verified"], audit.details["for"], audit.details["outcome"]) == (
            False,
            PAYER,
            "late",
        )
        [payment] = session.scalars(select(StipendPayment)).all()
        assert (payment.amount, payment.verified, payment.payment_reference) == (
            Decimal("8000.00"),
            False,
            "BKASH-7731",
        )
    kpis = compute_kpis(store, garment_brand.enterprise_id, dt.date.today(), dt.date.today())
    on_time = next(f for f in kpis.measures if f.measure.key == "stipends_paid_on_time")
    assert (on_time.overall.numerator, on_time.overall.denominator) == (0, 1)


def test_a_short_payment_keeps_the_milestone_open_and_the_sweep_escalates_it(store, garment_brand):
    reference = accepted_case(store, garment_brand)
    due_on = backdate_open_payment(store, reference, days=1)
    payer = Decider(person=PAYER, verified=True)
    line = cw.confirm_payment(store, reference, paid("6000", due_on), payer)
    assert line.status(dt.date.today()) == "short" and line.amount_paid == Decimal("6000.00")
    [escalation] = [e for e in sweep(store).escalations if e.case_reference == reference]
    assert escalation.step == "stipend_payment"  # short, so still owed: its ladder goes on
    line = cw.confirm_payment(store, reference, paid("2000", dt.date.today(), "BKASH-7790"), payer)
    assert line.settled_on == dt.date.today() and line.status(dt.date.today()) == "paid late"
    with store.transaction() as session:
        outcomes = [
            (a.actor, a.details["outcome"], a.details["shortfall"], a.details["verified"])
            for a in session.scalars(
                select(AuditEvent)
                .where(AuditEvent.action == "stipend_payment_confirmed")
                .order_by(AuditEvent.id)
            )
        ]
    assert outcomes == [(PAYER, "short", "2000.00", True), (PAYER, "late", None, True)]


def test_a_payment_on_its_due_day_counts_on_time(store, garment_brand):
    reference = accepted_case(store, garment_brand)
    due_on = backdate_open_payment(store, reference, days=3)
    line = cw.confirm_payment(store, reference, paid("8000", due_on), Decider(person=PAYER, verified=True))
    assert line.on_time
    kpis = compute_kpis(store, garment_brand.enterprise_id, dt.date.today(), dt.date.today())
    on_time = next(f for f in kpis.measures if f.measure.key == "stipends_paid_on_time")
    assert str(on_time.overall) == "100 % (1/1)"
    assert "paid in full by their due day" in on_time.measure.definition


def test_a_confirmation_is_refused_whole_unless_the_payer_and_the_facts_hold(store, garment_brand):
    reference = accepted_case(store, garment_brand)
    today = dt.date.today()
    refusals = [
        (Decider(person=OTHER_FOCAL_POINT, verified=True), paid("8000", today), "does not hold the role"),
        (staff_for_payer(reason=None), paid("8000", today), "on_behalf_reason is required"),
        (
            staff_for_payer(),
            cw.PaymentConfirmation(Decimal("8000"), "USD", today, "X-1"),
            "not the ledger's BDT",
        ),
        (staff_for_payer(), paid("8000", today + dt.timedelta(days=3)), "is in the future"),
        (staff_for_payer(), paid("0", today), "more than zero"),
        (staff_for_payer(), paid("8000", today, "  "), "payment_reference is required"),
    ]
    for confirmer, confirmation, message in refusals:
        with pytest.raises(InvalidInput, match=message):
            cw.confirm_payment(store, reference, confirmation, confirmer)
    with store.transaction() as session:
        assert session.scalars(select(StipendPayment)).all() == []
        assert session.scalars(select(StipendInstalment.amount_paid)).all() == [Decimal("0.00")]
        assert not session.scalars(
            select(AuditEvent).where(AuditEvent.action == "stipend_payment_confirmed")
        ).all()


def test_interim_support_between_removal_and_the_plan_is_tracked_the_same_way(store, garment_brand):
    notification = cw.Notification(
        enterprise_id=garment_brand.enterprise_id,
        site_id=SITE,
        notified_at=dt.datetime.now(dt.UTC),
        source=cw.Source.AUDIT,
    )
    reference = cw.open_case(store, garment_brand, notification, actor=CASE_MANAGER).reference
    due_on = dt.date.today() + dt.timedelta(days=7)
    line = cw.record_interim_support(store, reference, "7500", "bdt", due_on, CASE_MANAGER)
    assert (line.purpose, line.number, line.amount_due, line.currency) == (
        "interim_support",
        1,
        Decimal("7500.00"),
        "BDT",
    )
    with store.transaction() as session:
        milestone = session.scalars(select(Milestone).where(Milestone.key == line.milestone_key)).one()
        assert (milestone.kind, milestone.title) == ("stipend_payment", "Interim support 1")
    line = cw.confirm_payment(
        store,
        reference,
        paid("7500", dt.date.today()),
        Decider(person=PAYER, verified=True),
        purpose=cw.PaymentPurpose.INTERIM_SUPPORT,
    )
    assert line.on_time
    assert len(cw.stipend_ledger(store, reference)) == 1  # interim support opens no next month
    with pytest.raises(NotFound, match="no payment awaiting confirmation"):
        cw.confirm_payment(store, reference, paid("1", dt.date.today()), Decider(person=PAYER, verified=True))


def test_staff_record_interim_support_and_read_the_ledger_from_the_command_line(store, garment_brand, capsys):
    from remediation_flows.cli import main

    notification = cw.Notification(
        enterprise_id=garment_brand.enterprise_id,
        site_id=SITE,
        notified_at=dt.datetime.now(dt.UTC),
        source=cw.Source.AUDIT,
    )
    reference = cw.open_case(store, garment_brand, notification, actor=CASE_MANAGER).reference
    due = (dt.date.today() + dt.timedelta(days=7)).isoformat()
    command = ["stipends", "interim", reference, "--due-on", due, "--by", CASE_MANAGER, "--url", store.url]
    assert main([*command, "--amount", "7500.005", "--currency", "BDT"]) == 2
    assert "amount 7500.005 has more decimals than BDT counts" in capsys.readouterr().err
    assert cw.stipend_ledger(store, reference) == []
    assert main([*command, "--amount", "7500", "--currency", "BDT"]) == 0
    capsys.readouterr()
    assert main(["stipends", "ledger", reference, "--url", store.url]) == 0
    assert capsys.readouterr().out == f"interim support 1 due {due}: BDT7,500.00, paid BDT0.00 (open)\n"
