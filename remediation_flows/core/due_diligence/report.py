"""The annual due-diligence report, built from the case store alone (no Prefect needed).

Risks found, actions taken, training coverage, cases opened and their outcomes,
children back in school; as Markdown and as HTML with two charts (risk by
site, cases by stage). Cases appear by reference only.
"""

from __future__ import annotations

import datetime as dt
import html
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from remediation_flows.core.due_diligence.cycle import cycle_reference
from remediation_flows.core.due_diligence.prevalence import PREVALENCE
from remediation_flows.core.errors import NotFound
from remediation_flows.core.kpis import Kpis, kpis_in
from remediation_flows.core.store import repository as repo
from remediation_flows.core.store.repository import CaseStore
from remediation_flows.core.store.schema import (
    Case,
    DueDiligenceCycle,
    DueDiligenceRecord,
    FollowUpVisit,
    Reintegration,
    SiteRiskAssessment,
)


@dataclass
class SiteRiskRow:
    site_id: str
    site_name: str
    country: str
    score: int
    level: str
    reasons: list[str]


@dataclass
class CaseRow:
    reference: str
    site_id: str
    state: str
    outcome: str | None
    from_monitoring: bool


@dataclass
class ReportData:
    enterprise_id: str
    enterprise_name: str
    year: int
    step: str
    risks: list[SiteRiskRow] = field(default_factory=list)
    policies: dict[str, Any] | None = None
    training_planned: int | None = None
    training_attended: int | None = None
    visits: list[dict[str, Any]] = field(default_factory=list)
    cases: list[CaseRow] = field(default_factory=list)
    back_in_school: int = 0
    #: The field's outcome measures for the children notified in the year (see core/kpis.py).
    outcomes: Kpis | None = None

    @property
    def training_coverage(self) -> float | None:
        if not self.training_planned or self.training_attended is None:
            return None
        return round(100 * self.training_attended / self.training_planned, 1)

    @property
    def cases_by_stage(self) -> dict[str, int]:
        return dict(sorted(Counter(c.state for c in self.cases).items()))


def build_report(session: Session, enterprise_id: str, year: int) -> ReportData:
    """Gather the year's figures for one enterprise from the store."""
    cycle = session.scalars(
        select(DueDiligenceCycle).where(
            DueDiligenceCycle.enterprise_id == enterprise_id, DueDiligenceCycle.year == year
        )
    ).one_or_none()
    if cycle is None:
        raise NotFound(f"no due-diligence cycle {cycle_reference(enterprise_id, year)} in the case store")
    programme = repo.programme_version(session, cycle.config_sha256)
    data = ReportData(enterprise_id=enterprise_id, enterprise_name=programme.name, year=year, step=cycle.step)
    for row in session.scalars(
        select(SiteRiskAssessment)
        .where(SiteRiskAssessment.cycle_id == cycle.id)
        .order_by(SiteRiskAssessment.score.desc())
    ):
        site = programme.sites.get(row.site_id)
        data.risks.append(
            SiteRiskRow(
                row.site_id,
                site.name if site else row.site_id,
                site.country if site else "?",
                row.score,
                row.level,
                row.reasons,
            )
        )
    for record in session.scalars(
        select(DueDiligenceRecord)
        .where(DueDiligenceRecord.cycle_id == cycle.id)
        .order_by(DueDiligenceRecord.id)
    ):
        if record.kind == "policy_review":
            data.policies = record.data
        elif record.kind == "training_plan":
            data.training_planned = record.data["planned_participants"]
        elif record.kind == "training_attendance":
            data.training_attended = record.data["attended"]
        elif record.kind == "monitoring_visit":
            data.visits.append({"site_id": record.site_id, **record.data})
    start = dt.datetime(year, 1, 1, tzinfo=dt.UTC)
    cases = session.scalars(
        select(Case)
        .where(
            Case.enterprise_id == enterprise_id,
            (Case.due_diligence_cycle_id == cycle.id)
            | ((Case.notified_at >= start) & (Case.notified_at < start.replace(year=year + 1))),
        )
        .order_by(Case.id)
    ).all()
    for case in cases:
        data.cases.append(
            CaseRow(
                case.reference,
                case.site_id,
                case.state,
                case.outcome,
                case.due_diligence_cycle_id == cycle.id,
            )
        )
        if _back_in_school(session, case):
            data.back_in_school += 1
    data.outcomes = kpis_in(session, enterprise_id, dt.date(year, 1, 1), dt.date(year, 12, 31))
    return data


def _back_in_school(session: Session, case: Case) -> bool:
    """Enrolled this round, and the latest visit (if any) found the child in school and not at work."""
    enrolled = session.scalars(
        select(Reintegration).where(
            Reintegration.case_id == case.id,
            Reintegration.round == case.round,
            Reintegration.kind == "school_reintegration",
        )
    ).first()
    if enrolled is None or case.state in ("withdrawn", "reopened", "remediation_plan"):
        return False
    latest = session.scalars(
        select(FollowUpVisit)
        .where(FollowUpVisit.case_id == case.id, FollowUpVisit.visited_on >= enrolled.effective_on)
        .order_by(FollowUpVisit.visited_on.desc())
        .limit(1)
    ).first()
    return latest is None or (latest.attending_school and not latest.back_at_work)


def render_markdown(data: ReportData) -> str:
    lines = [
        f"# Child-labour due diligence {data.year}: {data.enterprise_name}",
        "",
        f"Cycle {cycle_reference(data.enterprise_id, data.year)}, "
        f"step reached: {data.step.replace('_', ' ')}.",
        "",
        "## Risks found",
        "",
        "| site | country | score | level | main reasons |",
        "|---|---|---:|---|---|",
    ]
    for r in data.risks:
        lines.append(
            f"| {r.site_name} ({r.site_id}) | {r.country} | {r.score} | {r.level} "
            f"| {'; '.join(r.reasons[:3])} |"
        )
    if not data.risks:
        lines.append("| no site assessed yet | | | | |")
    assessed_countries = sorted({r.country for r in data.risks})
    national = [PREVALENCE[c] for c in assessed_countries if c in PREVALENCE]
    if national:
        lines += [
            "",
            "National prevalence (the surveys measure different things; compare rows with care):",
            "",
            "| country | figure | children | measure | source | year | notes |",
            "|---|---:|---|---|---|---|---|",
        ]
        for p in national:
            figure = "-" if p.percent is None else f"{p.percent:g} %"
            lines.append(
                f"| {p.country} | {figure} | {p.ages or '-'} | {p.measure.value} | {p.source} "
                f"| {p.year or '-'} | {p.notes or '-'} |"
            )
    lines += ["", "## Actions taken", ""]
    if data.policies:
        lines.append(
            "- Prevention, on-site intervention and remediation policies reviewed "
            f"({data.policies.get('document_reference')})."
        )
    else:
        lines.append("- Policies and procedures: not yet reviewed.")
    coverage = data.training_coverage
    if coverage is not None:
        lines.append(
            f"- Training: {data.training_attended} of {data.training_planned} planned participants trained "
            f"({coverage:g} % coverage)."
        )
    elif data.training_planned:
        lines.append(
            f"- Training: {data.training_planned} participants planned; attendance not yet recorded."
        )
    for visit in data.visits:
        found = (
            f"{visit['children_found']} child(ren) found at work"
            if visit["child_found"]
            else "no child found at work"
        )
        lines.append(f"- Monitoring visit to {visit['site_id']} on {visit['visited_on']}: {found}.")
    lines += [
        "",
        "## Cases",
        "",
        f"{len(data.cases)} case(s) this year; {data.back_in_school} child(ren) back in school.",
        "",
    ]
    if data.cases:
        lines += ["| case | site | stage | outcome | found by monitoring |", "|---|---|---|---|---|"]
        for c in data.cases:
            lines.append(
                f"| {c.reference} | {c.site_id} | {c.state} | {c.outcome or '-'} "
                f"| {'yes' if c.from_monitoring else 'no'} |"
            )
        lines += [
            "",
            "Cases by stage: " + ", ".join(f"{k} {v}" for k, v in data.cases_by_stage.items()) + ".",
        ]
    lines += _outcome_lines(data.outcomes)
    return "\n".join(lines) + "\n"


def _outcome_lines(outcomes: Kpis | None) -> list[str]:
    """The outcome measures as a table (overall, by sex, by site), each measure's definition after it."""
    if outcomes is None:
        return []
    lines = [
        "",
        "## Outcomes",
        "",
        f"Children notified in the year: {outcomes.children}. Each share counts what its definition says.",
        "",
        "| measure | all | by sex | by site |",
        "|---|---|---|---|",
    ]
    for figures in outcomes.measures:
        by_sex = "; ".join(f"{sex} {figure}" for sex, figure in figures.by_sex.items()) or "-"
        by_site = "; ".join(f"{site} {figure}" for site, figure in figures.by_site.items()) or "-"
        lines.append(f"| {figures.measure.title} | {figures.overall} | {by_sex} | {by_site} |")
    lines += ["", "Definitions:", ""]
    lines += [f"- {figures.measure.title}: {figures.measure.definition}." for figures in outcomes.measures]
    return lines


def outcome_chart(outcomes: Kpis | None) -> str:
    """Each measure's share by the child's sex (and overall), as bars: where a reader would rather look."""
    if outcomes is None:
        return ""
    bars: list[tuple[str, float, str]] = []
    for figures in outcomes.measures:
        groups = [("all", figures.overall), *figures.by_sex.items()]
        for group, figure in groups:
            if figure.percent is not None:
                bars.append(
                    (
                        f"{figures.measure.title} · {group}",
                        figure.percent,
                        SEX_COLOURS.get(group, "#777"),
                    )
                )
    return bar_chart(
        "Outcomes by sex (% of the children each measure counts)", bars, unit=" %", full_scale=100
    )


SEX_COLOURS = {"all": "#2c6fbb", "female": "#8e44ad", "male": "#16a085"}

LEVEL_COLOURS = {"low": "#4c9a2a", "medium": "#e0a100", "high": "#c0392b"}


def bar_chart(
    title: str, bars: list[tuple[str, float, str]], unit: str = "", full_scale: float | None = None
) -> str:
    """A horizontal bar chart as inline SVG: (label, value, colour) per bar.

    ``full_scale`` is the value a full-width bar stands for (100 for shares); else the largest bar.
    """
    width, row, label_width = 860, 28, 400
    top = 30
    height = top + row * max(len(bars), 1) + 10
    peak = full_scale or max((value for _, value, _ in bars), default=1) or 1
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
        f'aria-label="{html.escape(title)}">',
        f'<text x="0" y="18" font-size="14" font-weight="bold">{html.escape(title)}</text>',
    ]
    for index, (label, value, colour) in enumerate(bars):
        y = top + index * row
        length = (width - label_width - 60) * value / peak
        parts.append(f'<text x="0" y="{y + 17}" font-size="12">{html.escape(label)}</text>')
        parts.append(
            f'<rect x="{label_width}" y="{y + 4}" width="{length:.1f}" height="18" fill="{colour}"/>'
        )
        parts.append(
            f'<text x="{label_width + length + 6:.1f}" y="{y + 17}" font-size="12">{value:g}{unit}</text>'
        )
    parts.append("</svg>")
    return "\n".join(parts)


def render_html(data: ReportData, markdown: str) -> str:
    """The report as a standalone HTML page with its charts (risk, cases, outcomes)."""
    risk_chart = bar_chart(
        "Risk score by site", [(r.site_id, r.score, LEVEL_COLOURS.get(r.level, "#777")) for r in data.risks]
    )
    stage_chart = bar_chart(
        "Cases by stage", [(stage, count, "#2c6fbb") for stage, count in data.cases_by_stage.items()]
    )
    body = []
    in_table = False
    for line in markdown.splitlines():
        if line.startswith("|"):
            cells = [html.escape(c.strip()) for c in line.strip("|").split("|")]
            if set("".join(cells)) <= set("-:"):
                continue
            tag = "th" if not in_table else "td"
            if not in_table:
                body.append("<table>")
                in_table = True
            body.append("<tr>" + "".join(f"<{tag}>{c}</{tag}>" for c in cells) + "</tr>")
            continue
        if in_table:
            body.append("</table>")
            in_table = False
        if line.startswith("# "):
            body.append(f"<h1>{html.escape(line[2:])}</h1>")
        elif line.startswith("## "):
            heading = line[3:]
            body.append(f"<h2>{html.escape(heading)}</h2>")
            if heading == "Risks found":
                body.append(risk_chart)
            elif heading == "Cases":
                body.append(stage_chart)
            elif heading == "Outcomes":
                body.append(outcome_chart(data.outcomes))
        elif line.startswith("- "):
            body.append(f"<p>&bull; {html.escape(line[2:])}</p>")
        elif line.strip():
            body.append(f"<p>{html.escape(line)}</p>")
    if in_table:
        body.append("</table>")
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>Due diligence {data.year}: {html.escape(data.enterprise_name)}</title>"
        "<style>body{font-family:sans-serif;max-width:900px;margin:2em auto}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}</style></head><body>\n"
        + "\n".join(body)
        + "\n</body></html>\n"
    )


def write_report(store: CaseStore, enterprise_id: str, year: int, out_dir: Path) -> list[Path]:
    """Write the Markdown and HTML files; returns their paths."""
    with store.reading() as session:
        data = build_report(session, enterprise_id, year)
    markdown = render_markdown(data)
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"due-diligence-{enterprise_id}-{year}"
    paths = [out_dir / f"{stem}.md", out_dir / f"{stem}.html"]
    paths[0].write_text(markdown, encoding="utf-8")
    paths[1].write_text(render_html(data, markdown), encoding="utf-8")
    return paths
