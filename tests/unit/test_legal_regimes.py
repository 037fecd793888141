"""Legal regimes and their clocks: pure due dates, the clock from the store, ad-hoc site reassessment."""

from __future__ import annotations

import copy
import datetime as dt

import pytest
from sqlalchemy import select

from remediation_flows.core import casework as cw
from remediation_flows.core.config import ConfigInvalid, load_programme_document
from remediation_flows.core.due_diligence import cycle as dd
from remediation_flows.core.due_diligence.legal_regimes import add_months, next_due_dates
from remediation_flows.core.store.schema import AuditEvent, Milestone, OutboxMessage
from tests.unit.test_due_diligence import answers

ACTOR = "li.wen@ngo.example"


def with_due_diligence(programme, **settings):
    document = copy.deepcopy(programme.document)
    document["due_diligence"].update(settings)
    return load_programme_document(document)


def by_name(dates):
    return {(d.regime, d.obligation): d for d in dates}


def test_months_are_added_to_the_month_end_when_the_day_is_missing():
    assert add_months(dt.date(2026, 3, 31), 6) == dt.date(2026, 9, 30)
    assert add_months(dt.date(2025, 8, 31), 6) == dt.date(2026, 2, 28)
    assert add_months(dt.date(2026, 12, 31), 12) == dt.date(2027, 12, 31)


def test_a_programme_without_regimes_loads_as_before(garment_brand):
    assert garment_brand.due_diligence.legal_regimes == ()
    assert garment_brand.due_diligence.reassess_site_on_new_case is False
    with pytest.raises(ConfigInvalid):
        with_due_diligence(garment_brand, legal_regimes=[{"regime": "fr_vigilance"}])


def test_each_regime_has_its_clock_from_the_last_completed_assessment(garment_brand):
    programme = with_due_diligence(
        garment_brand,
        legal_regimes=[
            {"regime": "de_lksg"},
            {"regime": "eu_csddd", "assessment_every_months": 36},
            {"regime": "uk_modern_slavery_act"},
        ],
    )
    last = {"risk_assessment": dt.date(2026, 2, 10), "policies_and_procedures": dt.date(2026, 3, 5)}
    dates = by_name(next_due_dates(programme, last, today=dt.date(2026, 5, 1)))
    # The programme's own clocks: 12 months after the last risk assessment, 24 after the last review.
    assert dates["programme", "risk_assessment"].due_on == dt.date(2027, 2, 10)
    assert dates["programme", "policy_review"].due_on == dt.date(2028, 3, 5)
    assert dates["de_lksg", "risk_analysis"].due_on == dt.date(2027, 2, 10)
    assert dates["eu_csddd", "periodic_assessment"].due_on == dt.date(2029, 2, 10)
    # The LkSG's annual report is abolished: not owed unless the programme asks for it.
    assert ("de_lksg", "annual_report") not in dates
    # Never assessed: due now.
    never = by_name(next_due_dates(programme, {}, today=dt.date(2026, 5, 1)))
    assert never["de_lksg", "risk_analysis"].due_on is None
    assert "no risk assessment completed yet" in never["de_lksg", "risk_analysis"].basis


def test_the_uk_statement_is_due_six_months_after_the_financial_year_end(garment_brand):
    programme = with_due_diligence(garment_brand, legal_regimes=[{"regime": "uk_modern_slavery_act"}])
    assert programme.financial_year_end == "12-31"
    statement = by_name(next_due_dates(programme, {}, today=dt.date(2026, 5, 1)))[
        "uk_modern_slavery_act", "modern_slavery_statement"
    ]
    assert statement.due_on == dt.date(2026, 6, 30)
    assert statement.requires == ("approved by the board", "signed by a director")
    # Once the year's statement is published, the next year's is what is due.
    published = {"communication": dt.date(2026, 6, 1)}
    after = by_name(next_due_dates(programme, published, today=dt.date(2026, 7, 1)))
    assert after["uk_modern_slavery_act", "modern_slavery_statement"].due_on == dt.date(2027, 6, 30)
    # The LkSG report, where a programme still keeps it: 4 months after the year end by default.
    kept = with_due_diligence(garment_brand, legal_regimes=[{"regime": "de_lksg", "annual_report": True}])
    lksg = by_name(next_due_dates(kept, {}, today=dt.date(2026, 3, 1)))
    assert lksg["de_lksg", "annual_report"].due_on == dt.date(2026, 4, 30)


def test_the_risk_clock_runs_from_the_cycle_assessment_completed_in_the_store(store, garment_brand):
    year = dt.date.today().year
    dd.start_cycle(store, garment_brand, year, ACTOR)
    before = by_name(dd.legal_due_dates(store, garment_brand))
    assert before["programme", "risk_assessment"].due_on is None  # never completed
    for site_id in garment_brand.sites:
        dd.record_site_risk(store, garment_brand.enterprise_id, year, site_id, answers(), ACTOR)
    with store.reading() as session:
        completed = session.scalars(
            select(Milestone.completed_at).where(
                Milestone.kind == "risk_assessment", Milestone.completed_at.is_not(None)
            )
        ).one()
    after = by_name(dd.legal_due_dates(store, garment_brand))
    assert after["programme", "risk_assessment"].due_on == add_months(completed.date(), 12)
    assert after["programme", "policy_review"].due_on is None  # policies not yet reviewed


def test_a_case_opened_at_a_site_opens_one_ad_hoc_reassessment(store, garment_brand):
    programme = with_due_diligence(garment_brand, reassess_site_on_new_case=True)
    site_id = next(iter(programme.sites))

    def open_case():
        return cw.open_case(
            store,
            programme,
            cw.Notification(
                enterprise_id=programme.enterprise_id,
                site_id=site_id,
                notified_at=dt.datetime.now(dt.UTC),
                source=cw.Source.AUDIT,
            ),
            actor=ACTOR,
        ).reference

    first = open_case()
    open_case()  # a second case while the reassessment is open: no second one
    with store.reading() as session:
        [reassessment] = session.scalars(select(Milestone).where(Milestone.key.contains("/reassessment/")))
        assert reassessment.site_id == site_id and reassessment.case_id is None
        assert reassessment.status == "open" and reassessment.due_at is not None
        assert reassessment.owner_role == str(programme.step("risk_assessment").owner)
        audits = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "site_reassessment_opened")
        ).all()
        assert [a.reason for a in audits] == [f"case {first} opened"]
        announced = session.scalars(
            select(OutboxMessage).where(
                OutboxMessage.subject.contains(f"RA-{programme.enterprise_id}-{site_id}")
            )
        ).all()
        assert len(announced) >= 1


def test_a_reassessment_is_closed_by_the_questionnaire_and_a_child_at_work_again_opens_another(
    store, agro_exporter, today
):
    from remediation_flows.core.due_diligence.reassessment import open_reassessments, record_site_reassessment
    from remediation_flows.core.errors import InvalidInput
    from tests.unit.test_casework import assess, notify, to_monitoring, visit

    programme = with_due_diligence(agro_exporter, reassess_site_on_new_case=True)
    reference = notify(store, programme)
    [first] = open_reassessments(store)
    assert (first.site_id, first.key) == (
        "sinaloa-culiacan",
        f"RA-{programme.enterprise_id}-sinaloa-culiacan/reassessment/1",
    )
    with pytest.raises(InvalidInput, match="workers_under_18_percent must be between 0 and 100"):
        record_site_reassessment(store, first.key, answers(workers_under_18_percent=140), ACTOR)
    assert open_reassessments(store) == [first]  # refused: nothing written

    risk = record_site_reassessment(
        store, first.key, answers(workers_under_18_percent=7, uses_labour_agents=True), ACTOR
    )
    assert open_reassessments(store) == []
    with store.reading() as session:
        [audit] = session.scalars(select(AuditEvent).where(AuditEvent.action == "site_reassessed")).all()
    assert audit.entity_id == first.reference and audit.actor == ACTOR
    assert (audit.details["score"], audit.details["level"]) == (risk.score, str(risk.level))
    with pytest.raises(InvalidInput, match="is already done"):
        record_site_reassessment(store, first.key, answers(), ACTOR)

    # A monitoring finding at the site: the child found at work again opens the next reassessment.
    assess(store, reference)
    to_monitoring(store, reference, today)
    visit(store, reference, today + dt.timedelta(days=180), back_at_work=True)
    [second] = open_reassessments(store, programme.enterprise_id, "sinaloa-culiacan")
    assert second.key.endswith("/reassessment/2")
    with store.reading() as session:
        reasons = session.scalars(
            select(AuditEvent.reason)
            .where(AuditEvent.action == "site_reassessment_opened")
            .order_by(AuditEvent.id)
        ).all()
    assert reasons[-1] == f"case {reference}: child found at work again at follow-up visit 1"
