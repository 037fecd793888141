"""The legal regimes an enterprise reports under, their clocks, and when each obligation is next due.

A declarative table: each regime names its obligations and how each one's clock runs, either a
number of months after the last completed step of the due-diligence cycle (a periodic risk
assessment) or a number of months after the financial year end (a report or statement). The laws
change (the LkSG's report was abolished in 2025, the CSDDD narrowed and postponed), so every figure
here is a default the programme may override (``due_diligence.legal_regimes``).

Pure: the caller passes the dates the last steps were completed; nothing here reads the store.
"""

from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass
from enum import StrEnum

from remediation_flows.core.config.model import Programme, RegimeSetting


class Regime(StrEnum):
    DE_LKSG = "de_lksg"
    EU_CSDDD = "eu_csddd"
    UK_MODERN_SLAVERY_ACT = "uk_modern_slavery_act"


class ClockAnchor(StrEnum):
    """What an obligation's months are counted from."""

    LAST_RISK_ASSESSMENT = "last_risk_assessment"
    LAST_POLICY_REVIEW = "last_policy_review"
    FINANCIAL_YEAR_END = "financial_year_end"


#: The cycle step whose last completion restarts a clock anchored on it.
ANCHOR_STEPS = {
    ClockAnchor.LAST_RISK_ASSESSMENT: "risk_assessment",
    ClockAnchor.LAST_POLICY_REVIEW: "policies_and_procedures",
    ClockAnchor.FINANCIAL_YEAR_END: "communication",
}


@dataclass(frozen=True)
class Obligation:
    """One duty of a regime and its default clock."""

    name: str
    anchor: ClockAnchor
    months: int
    #: Owed unless the programme says otherwise.
    owed: bool = True
    #: Events that call for it out of turn (a new case at a site is one, see the cycle's acts).
    also_after: tuple[str, ...] = ()
    #: What the law asks of the document beyond its date.
    requires: tuple[str, ...] = ()


@dataclass(frozen=True)
class RegimeRules:
    title: str
    obligations: tuple[Obligation, ...]


REGIMES: dict[Regime, RegimeRules] = {
    Regime.DE_LKSG: RegimeRules(
        title="German Supply Chain Due Diligence Act (LkSG)",
        obligations=(
            Obligation(
                "risk_analysis",
                ClockAnchor.LAST_RISK_ASSESSMENT,
                12,
                also_after=("a significant change in the supply chain", "a new case at a site"),
            ),
            # Abolished by the 2025 amendment, backdated: owed only where a programme still wants it.
            Obligation("annual_report", ClockAnchor.FINANCIAL_YEAR_END, 4, owed=False),
        ),
    ),
    Regime.EU_CSDDD: RegimeRules(
        title="EU Corporate Sustainability Due Diligence Directive (as amended 2025/2026)",
        obligations=(
            Obligation(
                "periodic_assessment",
                ClockAnchor.LAST_RISK_ASSESSMENT,
                60,
                also_after=("a significant change", "a new case at a site"),
            ),
        ),
    ),
    Regime.UK_MODERN_SLAVERY_ACT: RegimeRules(
        title="UK Modern Slavery Act 2015, section 54",
        obligations=(
            Obligation(
                "modern_slavery_statement",
                ClockAnchor.FINANCIAL_YEAR_END,
                6,
                requires=("approved by the board", "signed by a director"),
            ),
        ),
    ),
}


NO_YEAR_END = "no financial_year_end in the programme"


@dataclass(frozen=True)
class DueDate:
    """When an obligation is next due, and from what it was reckoned."""

    regime: str
    obligation: str
    due_on: dt.date | None
    basis: str
    requires: tuple[str, ...] = ()


def add_months(day: dt.date, months: int) -> dt.date:
    """``day`` moved ``months`` on; a day the target month lacks becomes its last (31 March + 6 = 30 Sept)."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def _year_end(financial_year_end: str, year: int) -> dt.date:
    month, day = (int(part) for part in financial_year_end.split("-"))
    return dt.date(year, month, min(day, calendar.monthrange(year, month)[1]))


def after_last_completed(
    last_completed: dt.date | None, months: int, basis: str
) -> tuple[dt.date | None, str]:
    """Due ``months`` after ``last_completed``; never done: due now (``None`` due date means "now")."""
    if last_completed is None:
        return None, f"no {basis} completed yet: due now"
    return add_months(last_completed, months), f"{months} months after the last {basis} ({last_completed})"


def statement_due(
    financial_year_end: str, months: int, today: dt.date, last_published: dt.date | None
) -> tuple[dt.date, str]:
    """The next report or statement: ``months`` after the last financial year end before ``today``,
    or after the following one when a report was already completed since that year ended.
    """
    ended = _year_end(financial_year_end, today.year)
    if ended >= today:
        ended = _year_end(financial_year_end, today.year - 1)
    if last_published is not None and last_published > ended:
        ended = _year_end(financial_year_end, ended.year + 1)
    return add_months(ended, months), f"{months} months after the financial year ending {ended}"


def _setting_months(obligation: Obligation, setting: RegimeSetting) -> int:
    if obligation.anchor is ClockAnchor.FINANCIAL_YEAR_END:
        return setting.report_due_months_after_year_end or obligation.months
    if obligation.anchor is ClockAnchor.LAST_RISK_ASSESSMENT:
        return setting.assessment_every_months or obligation.months
    return obligation.months


def _owed(obligation: Obligation, setting: RegimeSetting) -> bool:
    if obligation.anchor is ClockAnchor.FINANCIAL_YEAR_END and setting.annual_report is not None:
        return setting.annual_report
    return obligation.owed


def next_due_dates(programme: Programme, last_completed: dict[str, dt.date], today: dt.date) -> list[DueDate]:
    """Every clock of the programme and of each regime it names, with its next due date.

    ``last_completed`` maps a cycle step (``risk_assessment``, ``policies_and_procedures``,
    ``communication``) to the day it was last completed. The programme's own clocks come first:
    ``risk_assessment_every_months`` and ``policy_review_every_months`` after the last completed
    risk assessment and policy review.
    """
    rule = programme.due_diligence
    dates = []
    for step, months, name in (
        ("risk_assessment", rule.risk_assessment_every_months, "risk_assessment"),
        ("policies_and_procedures", rule.policy_review_every_months, "policy_review"),
    ):
        due_on, basis = after_last_completed(last_completed.get(step), months, step.replace("_", " "))
        dates.append(DueDate("programme", name, due_on, basis))
    for setting in rule.legal_regimes:
        rules = REGIMES[Regime(setting.regime)]
        for obligation in rules.obligations:
            if not _owed(obligation, setting):
                continue
            months = _setting_months(obligation, setting)
            step = ANCHOR_STEPS[obligation.anchor]
            if obligation.anchor is ClockAnchor.FINANCIAL_YEAR_END:
                if programme.financial_year_end is None:
                    dates.append(DueDate(setting.regime, obligation.name, None, NO_YEAR_END))
                    continue
                statement_on, basis = statement_due(
                    programme.financial_year_end, months, today, last_completed.get(step)
                )
                dates.append(
                    DueDate(setting.regime, obligation.name, statement_on, basis, obligation.requires)
                )
            else:
                due_on, basis = after_last_completed(last_completed.get(step), months, step.replace("_", " "))
                dates.append(DueDate(setting.regime, obligation.name, due_on, basis, obligation.requires))
    return dates
