"""Due diligence without Prefect: risk scoring on hand-made sites, a full cycle, the report's figures."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from remediation_flows.cli import main
from remediation_flows.core.approvals import Decider
from remediation_flows.core.due_diligence import cycle as dd
from remediation_flows.core.due_diligence.risk import AgeVerificationPractice as Age
from remediation_flows.core.due_diligence.risk import RiskLevel, SiteQuestionnaire, score_site
from remediation_flows.core.errors import IllegalTransition, InvalidInput
from remediation_flows.core.store.schema import Approval, Case, Milestone


def staff(email: str) -> Decider:
    """A decision the person typed for themselves in the Prefect UI: unverified."""
    return Decider(person=email, verified=False, entered_by=email, channel="the Prefect UI")


def answers(**changes) -> SiteQuestionnaire:
    base = dict(
        workers_under_18_percent=0,
        age_verification=Age.VERIFIED_WITH_AUTHORITY,
        uses_labour_agents=False,
        uses_subcontractors=False,
        student_or_vocational_workers=False,
        dormitories=False,
        cases_last_3_years=0,
        audit_findings_child_labour=0,
    )
    return SiteQuestionnaire(**(base | changes))


def test_a_careful_factory_in_a_low_prevalence_country_is_low_risk():
    risk = score_site("TR", "factory", answers())  # 4.4 % -> 1; factory -> 1
    assert (risk.score, risk.level) == (2, RiskLevel.LOW)
    # TurkStat counts economic activity, not child labour: the reason says which.
    assert risk.reasons[0].startswith("+1 4.4 % of children 5-17 in economic activity in TR")


def test_medium_risk_from_agents_and_self_declared_age():
    risk = score_site("VN", "factory", answers(age_verification=Age.SELF_DECLARED, uses_labour_agents=True))
    # 5.4 % -> 2, factory 1, self-declared 2, agents 2
    assert (risk.score, risk.level) == (7, RiskLevel.MEDIUM)


def test_a_farm_with_every_warning_sign_is_high_risk():
    risk = score_site(
        "MX",
        "farm",
        answers(
            workers_under_18_percent=8,
            age_verification=Age.NONE,
            uses_labour_agents=True,
            uses_subcontractors=True,
            student_or_vocational_workers=False,
            dormitories=True,
            cases_last_3_years=2,
            audit_findings_child_labour=1,
        ),
    )
    # 13.1 % -> 3, farm 2, none 3, agents 2, subcontractors 2, dormitories 1, >5 % under 18 2,
    # two cases 3, findings 2
    assert (risk.score, risk.level) == (20, RiskLevel.HIGH)
    assert "+3 age verification at hiring: none" in risk.reasons


def test_no_national_figure_counts_as_medium_prevalence():
    assert score_site("CN", "factory", answers()).reasons[0] == "+2 no national child-labour figure for CN"


def test_boundaries_of_the_levels():
    # VN 5.4 % -> 2, factory 1, documents checked 1, under-18 workers 1: 5 is still low ...
    five = score_site(
        "VN", "factory", answers(age_verification=Age.DOCUMENTS_CHECKED, workers_under_18_percent=1)
    )
    assert (five.score, five.level) == (5, RiskLevel.LOW)
    # ... dormitories make it 6, medium; 10 is medium, 11 high.
    six = score_site(
        "VN",
        "factory",
        answers(age_verification=Age.DOCUMENTS_CHECKED, workers_under_18_percent=1, dormitories=True),
    )
    assert (six.score, six.level) == (6, RiskLevel.MEDIUM)
    ten = score_site(
        "VN",
        "factory",
        answers(
            age_verification=Age.DOCUMENTS_CHECKED,
            workers_under_18_percent=1,
            dormitories=True,
            uses_labour_agents=True,
            uses_subcontractors=True,
        ),
    )
    assert (ten.score, ten.level) == (10, RiskLevel.MEDIUM)
    eleven = score_site(
        "VN",
        "workshop",
        answers(
            age_verification=Age.DOCUMENTS_CHECKED,
            workers_under_18_percent=1,
            dormitories=True,
            uses_labour_agents=True,
            uses_subcontractors=True,
        ),
    )
    assert (eleven.score, eleven.level) == (11, RiskLevel.HIGH)


def test_a_full_cycle_opens_a_linked_case_and_reports_figures_from_the_store(
    store, garment_brand, tmp_path, today
):
    # This year's cycle, whatever the year: the annual report's legal deadline (end of April next
    # year) is then still ahead, and the monitoring visit happened this year.
    year = today.year
    visited = today
    view = dd.start_cycle(store, garment_brand, year, "li.wen@ngo.example")
    assert view.step == "risk_assessment" and view.sites == ["dhaka-knit-01", "hcmc-sew-02"]
    assert dd.start_cycle(store, garment_brand, year, "li.wen@ngo.example").cycle_id == view.cycle_id
    with pytest.raises(
        IllegalTransition,
        match=f"^case DD-northwind-apparel-{year}: cannot record a policy review "
        "while the cycle is in risk assessment$",
    ):
        dd.record_policy_review(
            store, "northwind-apparel", year, dd.PolicyReview(True, True, True, "POL-1"), "x"
        )
    risky = answers(
        workers_under_18_percent=7,
        age_verification=Age.SELF_DECLARED,
        uses_labour_agents=True,
        uses_subcontractors=True,
        dormitories=True,
        cases_last_3_years=1,
    )
    view = dd.record_site_risk(store, "northwind-apparel", year, "dhaka-knit-01", risky, "compliance@brand")
    assert view.risk_levels == {"dhaka-knit-01": "high"} and view.step == "risk_assessment"
    view = dd.record_site_risk(store, "northwind-apparel", year, "hcmc-sew-02", answers(), "compliance@brand")
    assert view.step == "policies_and_procedures" and view.monitoring_sites == ["dhaka-knit-01"]
    with pytest.raises(InvalidInput, match="all three documents"):
        dd.record_policy_review(
            store, "northwind-apparel", year, dd.PolicyReview(True, False, True, "POL-1"), "x"
        )
    view = dd.record_policy_review(
        store, "northwind-apparel", year, dd.PolicyReview(True, True, True, "POL-2026"), "x"
    )
    assert view.pending_approvals == ["enterprise_leadership", "program_manager"]
    dd.decide(
        store,
        "northwind-apparel",
        year,
        "enterprise_leadership",
        True,
        staff("coo@northwind-apparel.example"),
    )
    view = dd.decide(store, "northwind-apparel", year, "program_manager", True, staff("li.wen@ngo.example"))
    assert view.step == "training"
    dd.plan_training(store, "northwind-apparel", year, sessions=3, planned_participants=40, actor="li.wen")
    view = dd.record_training(store, "northwind-apparel", year, attended=34, actor="li.wen")
    assert view.step == "monitoring" and view.training_attended == 34
    with pytest.raises(InvalidInput, match="not planned for monitoring"):
        dd.record_monitoring_visit(
            store,
            "northwind-apparel",
            year,
            dd.MonitoringVisit("hcmc-sew-02", visited, False),
            "cm",
        )
    view = dd.record_monitoring_visit(
        store,
        "northwind-apparel",
        year,
        dd.MonitoringVisit("dhaka-knit-01", visited, True, children_found=2, findings="two minors"),
        "rahim.uddin@ngo.example",
    )
    assert view.step == "communication" and len(view.cases_opened) == 2
    assert view.pending_approvals == ["enterprise_leadership"]
    with store.transaction() as session:
        linked = session.scalars(select(Case).where(Case.due_diligence_cycle_id == view.cycle_id)).all()
        assert {c.state for c in linked} == {"on_site_assessment"} and {c.site_id for c in linked} == {
            "dhaka-knit-01"
        }
        keys = session.scalars(select(Milestone.key).where(Milestone.cycle_id == view.cycle_id)).all()
        assert sorted(keys) == sorted(f"DD-northwind-apparel-{year}/{s}" for s in dd.STEPS)
    view = dd.decide(
        store,
        "northwind-apparel",
        year,
        "enterprise_leadership",
        True,
        staff("coo@northwind-apparel.example"),
    )
    assert view.is_finished

    assert (
        main(
            [
                "due-diligence",
                "report",
                "northwind-apparel",
                "--year",
                str(year),
                "--out",
                str(tmp_path),
                "--url",
                store.url,
            ]
        )
        == 0
    )
    markdown = (tmp_path / f"due-diligence-northwind-apparel-{year}.md").read_text()
    # Dhaka: BD 4.4 % 1, factory 1, self-declared 2, agents 2, subcontractors 2, dormitories 1,
    # 7 % under 18 2, one case 2 = 13; Binh Duong: VN 5.4 % 2, factory 1 = 3.
    assert "| Gazipur knitwear factory (dhaka-knit-01) | BD | 13 | high |" in markdown
    assert (
        "| BD | 4.4 % | 5-17 | child labour | National Child Labour Survey 2022, "
        "Bangladesh Bureau of Statistics | 2022 | - |"
    ) in markdown
    assert "| VN | 5.4 % | 5-17 | child labour |" in markdown
    assert "| Binh Duong sewing unit (hcmc-sew-02) | VN | 3 | low |" in markdown
    assert "Training: 34 of 40 planned participants trained (85 % coverage)." in markdown
    assert f"Monitoring visit to dhaka-knit-01 on {visited}: 2 child(ren) found at work." in markdown
    assert "2 case(s) this year; 0 child(ren) back in school." in markdown
    assert "Cases by stage: on_site_assessment 2." in markdown
    page = (tmp_path / f"due-diligence-northwind-apparel-{year}.html").read_text()
    assert page.count("<svg") == 3 and "Risk score by site" in page and "Cases by stage" in page


def test_a_cycle_act_in_the_wrong_step_is_refused_in_words(store, garment_brand, today):
    dd.start_cycle(store, garment_brand, today.year, "li.wen@ngo.example")
    with pytest.raises(
        IllegalTransition, match="cannot plan the training while the cycle is in risk assessment"
    ):
        dd.plan_training(store, "northwind-apparel", today.year, 2, 40, "x")
    with pytest.raises(
        IllegalTransition,
        match="cannot decide on the policies or the annual report while the cycle is in risk assessment",
    ):
        dd.decide(
            store, "northwind-apparel", today.year, "program_manager", True, staff("li.wen@ngo.example")
        )


def _at_policy_approval(store, programme, year) -> None:
    dd.start_cycle(store, programme, year, "li.wen@ngo.example")
    for site in ("dhaka-knit-01", "hcmc-sew-02"):
        dd.record_site_risk(store, programme.enterprise_id, year, site, answers(), "compliance@brand")
    dd.record_policy_review(
        store, programme.enterprise_id, year, dd.PolicyReview(True, True, True, "POL-2026"), "x"
    )


def test_a_cycle_approval_is_refused_under_a_role_its_giver_does_not_hold(store, garment_brand, today):
    _at_policy_approval(store, garment_brand, today.year)
    with pytest.raises(InvalidInput, match="li.wen@ngo.example does not hold the role enterprise_leadership"):
        dd.decide(
            store, "northwind-apparel", today.year, "enterprise_leadership", True, staff("li.wen@ngo.example")
        )
    # One person under two roles: refused by default, as for a case's approvals.
    dd.decide(store, "northwind-apparel", today.year, "program_manager", True, staff("li.wen@ngo.example"))
    view = dd.cycle_view(store, "northwind-apparel", today.year)
    assert view.step == "policies_and_procedures" and view.pending_approvals == ["enterprise_leadership"]


def test_a_cycle_approval_recorded_for_the_approver_says_by_whom_and_why(store, garment_brand, today):
    _at_policy_approval(store, garment_brand, today.year)
    for_the_coo = Decider(
        person="coo@northwind-apparel.example",
        verified=False,
        entered_by="li.wen@ngo.example",
        channel="the Prefect UI",
        on_behalf_reason="given by phone on the weekly call",
    )
    with pytest.raises(InvalidInput, match="on their behalf needs a reason"):
        dd.decide(
            store,
            "northwind-apparel",
            today.year,
            "enterprise_leadership",
            True,
            Decider(person="coo@northwind-apparel.example", verified=False, entered_by="li.wen@ngo.example"),
        )
    dd.decide(store, "northwind-apparel", today.year, "enterprise_leadership", True, for_the_coo)
    with store.reading() as session:
        approval = session.scalars(select(Approval).where(Approval.role == "enterprise_leadership")).one()
    assert (approval.decided_for, approval.verified, approval.on_behalf_reason) == (
        "coo@northwind-apparel.example",
        False,
        "given by phone on the weekly call",
    )
    assert (
        approval.decided_by
        == "entered in the Prefect UI by li.wen@ngo.example on behalf of coo@northwind-apparel.example"
    )


def test_a_cycle_approval_may_be_made_link_only_now_that_the_cycle_sends_links(garment_brand):
    from remediation_flows.core.config import load_programme_document

    document = {**garment_brand.document}
    steps = {**document["due_diligence"]["steps"]}
    steps["policies_and_procedures"] = {
        **steps["policies_and_procedures"],
        "approval_policy": {"staff_may_record": False},
    }
    document["due_diligence"] = {**document["due_diligence"], "steps": steps}
    strict = load_programme_document(document)
    assert not strict.step("policies_and_procedures").approval_policy.staff_may_record
