"""Outcome measures on a hand-built store: each expected figure follows from the measure's definition."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from remediation_flows.cli import main
from remediation_flows.core import casework as cw
from remediation_flows.core.kpis import MEASURES, compute_kpis
from remediation_flows.core.store import repository as repo
from remediation_flows.core.store.schema import Assessment, FollowUpVisit, Reintegration, RemediationPlan

T = dt.datetime(2026, 3, 2, 6, 0, tzinfo=dt.UTC)


def _case(
    session, programme, site, notified_at, *, assessed_after=None, sex=None, plans=(), visits=(), round_=1
):
    case = repo.open_case(
        session,
        programme,
        site_id=site,
        notified_at=notified_at,
        source="audit",
        actor="pm",
        case_manager=None,
    )
    case.round = round_
    if assessed_after is not None:
        session.add(
            Assessment(
                case_id=case.id,
                age_years=13,
                age_verification="birth_certificate",
                outcome="child_labourer",
                removed_from_work=True,
                safe_place=True,
                child_consent=True,
                guardian_consent=True,
                sex=sex,
                assessed_by="cm",
                assessed_at=notified_at + assessed_after,
            )
        )
    for status in plans:
        session.add(
            RemediationPlan(
                case_id=case.id,
                pathway="schooling",
                monthly_stipend=Decimal(8000),
                currency="BDT",
                payer="supplier",
                status=status,
                proposed_by="cm",
            )
        )
    if visits:
        session.add(
            Reintegration(
                case_id=case.id,
                kind="school_reintegration",
                effective_on=notified_at.date(),
                recorded_by="cm",
            )
        )
    for number, (in_school, at_work) in enumerate(visits, start=1):
        session.add(
            FollowUpVisit(
                case_id=case.id,
                visited_on=notified_at.date() + dt.timedelta(days=30 * number),
                attending_school=in_school,
                back_at_work=at_work,
                recorded_by="cm",
            )
        )
    return case


def build_store(store, programme) -> None:
    with store.transaction() as session:
        repo.register_programme(session, programme, actor="setup")
    with store.transaction() as session:
        hour = dt.timedelta(hours=1)
        # A: Dhaka, girl, assessed in 10 h, plan accepted, two visits in school and not at work.
        _case(
            session,
            programme,
            "dhaka-knit-01",
            T,
            assessed_after=10 * hour,
            sex="female",
            plans=["accepted"],
            visits=[(True, False), (True, False)],
        )
        # B: Dhaka, boy, assessed in 80 h, a plan rejected then one accepted, back at work, re-opened.
        _case(
            session,
            programme,
            "dhaka-knit-01",
            T,
            assessed_after=80 * hour,
            sex="male",
            plans=["rejected", "accepted"],
            visits=[(False, True)],
            round_=2,
        )
        # C: Viet Nam, girl, assessed in 71 h, plan still proposed.
        _case(
            session, programme, "hcmc-sew-02", T, assessed_after=71 * hour, sex="female", plans=["proposed"]
        )
        # D: Viet Nam, not yet assessed (sex not recorded).
        _case(session, programme, "hcmc-sew-02", T + dt.timedelta(days=20))
        # E: notified after the period: counted nowhere.
        _case(
            session, programme, "dhaka-knit-01", T + dt.timedelta(days=60), assessed_after=hour, sex="female"
        )


def figures(kpis) -> dict[str, tuple]:
    return {
        m.measure.key: (
            (m.overall.numerator, m.overall.denominator),
            {k: (v.numerator, v.denominator) for k, v in m.by_sex.items()},
            {k: (v.numerator, v.denominator) for k, v in m.by_site.items()},
        )
        for m in kpis.measures
    }


def test_every_measure_follows_from_its_definition(store, garment_brand):
    build_store(store, garment_brand)
    kpis = compute_kpis(store, "northwind-apparel", dt.date(2026, 3, 1), dt.date(2026, 3, 31))
    assert kpis.children == 4
    got = figures(kpis)
    # Within 72 h: A (10 h) and C (71 h); not B (80 h) nor D (never).
    assert got["assessed_within_72_hours"] == (
        (2, 4),
        {"female": (2, 2), "male": (0, 1), "not recorded": (0, 1)},
        {"dhaka-knit-01": (1, 2), "hcmc-sew-02": (1, 2)},
    )
    # Plans decided: A's one, B's two; C's is still proposed. Accepted: one each of A and B.
    assert got["plans_accepted"] == (
        (2, 3),
        {"female": (1, 1), "male": (1, 2), "not recorded": (0, 0)},
        {"dhaka-knit-01": (2, 3), "hcmc-sew-02": (0, 0)},
    )
    # Reintegrated: A and B; two visits or more: A.
    assert got["two_or_more_follow_ups"][0] == (1, 2)
    assert got["two_or_more_follow_ups"][1]["male"] == (0, 1)
    # At the last visit A is in school and not at work; B is neither.
    assert got["in_school_at_last_visit"][0] == (1, 2)
    assert got["no_longer_in_child_labour_at_last_visit"][1] == {
        "female": (1, 1),
        "male": (0, 1),
        "not recorded": (0, 0),
    }
    # Re-opened: B alone, of four children.
    assert got["reopened"][0] == (1, 4)
    assert got["reopened"][2] == {"dhaka-knit-01": (1, 2), "hcmc-sew-02": (0, 2)}

    one_site = compute_kpis(
        store, "northwind-apparel", dt.date(2026, 3, 1), dt.date(2026, 3, 31), "hcmc-sew-02"
    )
    assert one_site.children == 2 and figures(one_site)["assessed_within_72_hours"][0] == (1, 2)


def test_the_command_prints_each_figure_beside_its_definition(store, garment_brand, capsys):
    build_store(store, garment_brand)
    url = store.engine.url.render_as_string(False)
    args = ["kpis", "northwind-apparel", "--from", "2026-03-01", "--to", "2026-03-31", "--url", url]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "northwind-apparel: 4 child(ren) notified from 2026-03-01 to 2026-03-31" in out
    assert "Notifications assessed within 72 hours: 50 % (2/4)" in out
    assert "Plans accepted: 66.7 % (2/3)" in out
    assert "  by sex: female 100 % (2/2); male 0 % (0/1); not recorded 0 % (0/1)" in out
    for measure in MEASURES:
        assert f"  definition: {measure.definition}" in out
    assert main([*args[:5], "2026-03-xx", *args[6:]]) == 2
    assert "--to: '2026-03-xx' is not a date" in capsys.readouterr().err


def test_the_assessment_records_the_childs_sex(store, agro_exporter):
    notification = cw.Notification(
        enterprise_id=agro_exporter.enterprise_id,
        site_id="sinaloa-culiacan",
        notified_at=dt.datetime.now(dt.UTC),
        source=cw.Source.AUDIT,
    )
    reference = cw.open_case(store, agro_exporter, notification, actor="pm").reference
    cw.record_assessment(
        store,
        reference,
        cw.AssessmentReport(
            age_years=13,
            age_verification=cw.AgeVerification.BIRTH_CERTIFICATE,
            outcome=cw.AssessmentOutcome.CHILD_LABOURER,
            removed_from_work=True,
            safe_place=True,
            child_consent=True,
            guardian_consent=True,
            sex=cw.ChildSex.FEMALE,
        ),
        actor="pm",
    )
    today = dt.date.today()
    kpis = compute_kpis(store, agro_exporter.enterprise_id, today - dt.timedelta(days=1), today)
    assert figures(kpis)["assessed_within_72_hours"][1] == {"female": (1, 1)}


def test_the_annual_report_gives_each_measure_by_sex_and_site_with_its_definition_and_a_chart(
    store, garment_brand
):
    from remediation_flows.core.due_diligence import cycle as dd
    from remediation_flows.core.due_diligence.report import build_report, render_html, render_markdown

    build_store(store, garment_brand)
    dd.start_cycle(store, garment_brand, 2026, "li.wen@ngo.example")
    with store.reading() as session:
        data = build_report(session, "northwind-apparel", 2026)
    markdown = render_markdown(data)
    # The whole year counts E too: within 72 h are A, C and E, of A to E.
    assert (
        "| Notifications assessed within 72 hours | 60 % (3/5) "
        "| female 100 % (3/3); male 0 % (0/1); not recorded 0 % (0/1) "
        "| dhaka-knit-01 66.7 % (2/3); hcmc-sew-02 50 % (1/2) |"
    ) in markdown
    assert "| Re-opened cases (recurrence) | 20 % (1/5) |" in markdown
    for measure in MEASURES:
        assert f"- {measure.title}: {measure.definition}." in markdown
    page = render_html(data, markdown)
    chart = page[page.index("Outcomes by sex") :]
    chart = chart[: chart.index("</svg>")]
    assert "Notifications assessed within 72 hours · female" in chart and ">100 %<" in chart
    assert "Notifications assessed within 72 hours · male" in chart and ">0 %<" in chart
