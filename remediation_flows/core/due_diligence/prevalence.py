"""Child-labour prevalence for the countries the NGO serves: the national backdrop of a site's risk.

National surveys do not all measure the same thing. Some count child labour as the ILO's
statistical framework defines it, some also count household chores beyond an hour threshold,
some count any economic activity in a reference period, and a census counts children who
worked at all. Ages differ too. So each row names its measure and age range beside the figure,
and the report prints them: a reader must not compare Laos (chores counted) with Türkiye
(economic activity in one quarter) as if they were one scale.

Program managers replace a row when a newer survey is published; the risk score reads it
from here. A row whose figure or detail could not be checked against the publication says
so in its notes rather than guessing.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Measure(StrEnum):
    """What a national figure counts."""

    CHILD_LABOUR = "child labour"
    CHILD_LABOUR_WITH_HOUSEHOLD_CHORES = "child labour, household chores counted"
    ECONOMIC_ACTIVITY = "economic activity"
    NO_FIGURE = "no national figure"


@dataclass(frozen=True)
class Prevalence:
    """One country's most recent national figure, with what it measures and where it comes from."""

    country: str
    percent: float | None
    source: str
    year: int | None
    ages: str | None
    measure: Measure
    notes: str = ""


PREVALENCE: dict[str, Prevalence] = {
    entry.country: entry
    for entry in (
        Prevalence(
            "BD",
            4.4,
            "National Child Labour Survey 2022, Bangladesh Bureau of Statistics",
            2022,
            "5-17",
            Measure.CHILD_LABOUR,
        ),
        Prevalence(
            "KH",
            10.1,
            "Cambodia Labour Force and Child Labour Survey 2012, National Institute of Statistics/ILO",
            2012,
            "5-17",
            Measure.CHILD_LABOUR,
            "about 10 % as published; no later national child-labour survey found",
        ),
        Prevalence(
            "CN",
            None,
            "no national child-labour survey is published",
            None,
            None,
            Measure.NO_FIGURE,
        ),
        Prevalence(
            "EG",
            4.9,
            "Egypt Family Health Survey 2021, CAPMAS",
            2021,
            "5-17",
            Measure.CHILD_LABOUR,
            "age range not re-checked against the survey report",
        ),
        Prevalence(
            "IN",
            3.9,
            "Census of India 2011, main and marginal workers",
            2011,
            "5-14",
            Measure.ECONOMIC_ACTIVITY,
            "a census count of working children aged 5-14, not a child-labour survey; "
            "children 15-17 are not included",
        ),
        Prevalence(
            "ID",
            1.72,
            "Statistics Indonesia (BPS), National Labour Force Survey (Sakernas) 2023",
            2023,
            "10-17",
            Measure.CHILD_LABOUR,
            "1.58 % in 2019; Sakernas asks about work from age 10, so younger children are not counted",
        ),
        Prevalence(
            "LA",
            42.4,
            "Lao Social Indicator Survey II (MICS) 2017, Lao Statistics Bureau/UNICEF",
            2017,
            "5-17",
            Measure.CHILD_LABOUR_WITH_HOUSEHOLD_CHORES,
            "household chores above the age's hour threshold count as child labour, so the figure "
            "is far higher than surveys that count economic activity only; figure not re-checked "
            "against the survey report",
        ),
        Prevalence(
            "MM",
            9.3,
            "Myanmar Labour Force, Child Labour and School-to-Work Transition Survey 2015, "
            "Ministry of Labour/ILO",
            2015,
            "5-17",
            Measure.CHILD_LABOUR,
            "figure not re-checked against the survey report",
        ),
        Prevalence(
            "TR",
            4.4,
            "Child Labour Force Survey 2019, TurkStat",
            2019,
            "5-17",
            Measure.ECONOMIC_ACTIVITY,
            "children in economic activity in one quarter of the year, not child labour as such; "
            "refugee children are not covered",
        ),
        Prevalence(
            "VN",
            5.4,
            "Viet Nam National Child Labour Survey 2018, MOLISA/GSO/ILO",
            2018,
            "5-17",
            Measure.CHILD_LABOUR,
            "figure not re-checked against the survey report",
        ),
        Prevalence(
            "MX",
            13.1,
            "Encuesta Nacional de Trabajo Infantil (ENTI) 2022, INEGI",
            2022,
            "5-17",
            Measure.CHILD_LABOUR,
            "figure not re-checked against the survey report",
        ),
    )
}
