"""The national prevalence table: each figure pinned to the source it cites, and the caveats printed."""

from __future__ import annotations

import pytest

from remediation_flows.core.config.minimum_age import NATIONAL_MINIMUM_AGES
from remediation_flows.core.due_diligence.prevalence import PREVALENCE, Measure
from remediation_flows.core.due_diligence.report import ReportData, SiteRiskRow, render_markdown
from remediation_flows.core.due_diligence.risk import AgeVerificationPractice, SiteQuestionnaire, score_site

# (country, figure, words the cited source must contain, year, ages, measure), as checked
# against the national publications in issue 13.
CHECKED = [
    ("BD", 4.4, "National Child Labour Survey 2022", 2022, "5-17", Measure.CHILD_LABOUR),
    ("KH", 10.1, "Labour Force and Child Labour Survey 2012", 2012, "5-17", Measure.CHILD_LABOUR),
    ("EG", 4.9, "Egypt Family Health Survey 2021", 2021, "5-17", Measure.CHILD_LABOUR),
    ("IN", 3.9, "Census of India 2011", 2011, "5-14", Measure.ECONOMIC_ACTIVITY),
    ("ID", 1.72, "Sakernas", 2023, "10-17", Measure.CHILD_LABOUR),
    ("LA", 42.4, "Lao Social Indicator Survey II", 2017, "5-17", Measure.CHILD_LABOUR_WITH_HOUSEHOLD_CHORES),
    ("TR", 4.4, "TurkStat", 2019, "5-17", Measure.ECONOMIC_ACTIVITY),
]


@pytest.mark.parametrize(("country", "figure", "source", "year", "ages", "measure"), CHECKED)
def test_each_checked_figure_is_pinned_to_its_source(country, figure, source, year, ages, measure):
    row = PREVALENCE[country]
    assert (row.percent, row.year, row.ages, row.measure) == (figure, year, ages, measure)
    assert source in row.source


def test_superseded_sources_are_gone():
    cited = " ".join(row.source for row in PREVALENCE.values())
    for superseded in ("MICS 2019", "Socio-Economic Survey", "Demographic and Health Survey"):
        assert superseded not in cited
    assert "1.58 % in 2019" in PREVALENCE["ID"].notes  # the earlier figure stays as context
    assert "about 10 %" in PREVALENCE["KH"].notes


def test_every_country_served_has_a_complete_row():
    assert set(PREVALENCE) == set(NATIONAL_MINIMUM_AGES)
    for row in PREVALENCE.values():
        if row.percent is None:
            assert row.measure is Measure.NO_FIGURE and row.year is None
            continue
        assert row.source and row.year and row.ages and row.measure is not Measure.NO_FIGURE
        assert str(row.year) in row.source, f"{row.country}: the source should name its year"


def test_rows_measuring_something_else_say_what_in_their_notes():
    assert "household chores" in PREVALENCE["LA"].notes
    assert "one quarter" in PREVALENCE["TR"].notes and "refugee" in PREVALENCE["TR"].notes
    assert "5-14" in PREVALENCE["IN"].notes


def test_the_report_prints_measure_ages_and_caveats_beside_each_figure():
    risks = []
    for country in ("LA", "TR", "CN"):
        risk = score_site(
            country,
            "factory",
            SiteQuestionnaire(0, AgeVerificationPractice.DOCUMENTS_CHECKED, False, False, False, False, 0, 0),
        )
        risks.append(
            SiteRiskRow(f"site-{country}", f"Site {country}", country, risk.score, risk.level, risk.reasons)
        )
    markdown = render_markdown(ReportData("e", "Enterprise", 2026, "risk_assessment", risks=risks))
    assert "National prevalence (the surveys measure different things; compare rows with care):" in markdown
    la = next(line for line in markdown.splitlines() if line.startswith("| LA |"))
    assert "| 42.4 % | 5-17 | child labour, household chores counted |" in la
    assert "household chores above the age's hour threshold" in la
    tr = next(line for line in markdown.splitlines() if line.startswith("| TR |"))
    assert "| 4.4 % | 5-17 | economic activity |" in tr and "refugee children are not covered" in tr
    cn = next(line for line in markdown.splitlines() if line.startswith("| CN |"))
    assert "| - | - | no national figure |" in cn
    # The risk reason names the measure too, so a score is never read as a like-for-like figure.
    assert any(
        "42.4 % of children 5-17 in child labour, household chores counted in LA" in r
        for r in risks[0].reasons
    )
