"""Child-labour prevalence for the countries the NGO serves: the national backdrop of a site's risk.

Each figure is the share of children aged 5-17 in child labour in the most recent
national survey we know of, with its source and year. Program managers should
replace a figure when a newer survey is published; the risk score reads it from here.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Prevalence:
    country: str
    percent_5_to_17: float | None
    source: str
    year: int | None


PREVALENCE: dict[str, Prevalence] = {
    entry.country: entry
    for entry in (
        Prevalence("BD", 6.8, "Bangladesh MICS 2019 (BBS/UNICEF)", 2019),
        Prevalence("KH", 10.1, "Cambodia Socio-Economic Survey child labour module (NIS)", 2019),
        Prevalence("CN", None, "no national child-labour survey is published", None),
        Prevalence("EG", 4.9, "Egypt Demographic and Health Survey (ILO/UNICEF estimates)", 2014),
        Prevalence("IN", 5.9, "Census of India, working children 5-14 (ILO estimate)", 2011),
        Prevalence("ID", 3.7, "Indonesia National Labour Force Survey (Sakernas), BPS", 2019),
        Prevalence("LA", 42.4, "Lao Social Indicator Survey II (MICS)", 2017),
        Prevalence(
            "MM", 9.3, "Myanmar Labour Force, Child Labour and School-to-Work Transition Survey", 2015
        ),
        Prevalence("TR", 4.4, "TurkStat Child Labour Force Survey", 2019),
        Prevalence("VN", 5.4, "Viet Nam National Child Labour Survey (MOLISA/ILO)", 2018),
        Prevalence("MX", 13.1, "Encuesta Nacional de Trabajo Infantil (ENTI), INEGI", 2022),
    )
}
