"""Step 4: a monitoring visit to each high-risk site; a child found at work opens a remediation case."""

from __future__ import annotations

from remediation_flows.core.due_diligence import cycle as dd
from remediation_flows.core.store import CaseStore
from remediation_flows.flows.due_diligence.answers import MonitoringVisitAnswer
from remediation_flows.flows.prompts import apply, ask
from remediation_flows.flows.remediation.runs import start_lifecycle


async def monitor(store: CaseStore, view: dd.CycleView) -> None:
    site_id = next(site for site in view.monitoring_sites if site not in view.visited_sites)
    prompt = f"{view.reference}-visit-{site_id}"
    answer = await ask(
        store,
        f"Cycle {view.reference}, site {site_id}",
        prompt,
        MonitoringVisitAnswer,
        question=f"Monitoring visit to {site_id} (risk: {view.risk_levels.get(site_id)})",
        asked_of="the case manager",
        due=view.due_local,
    )
    visit = dd.MonitoringVisit(site_id=site_id, **answer.model_dump(exclude={"answered_by"}))
    before = set(view.cases_opened)
    recorded = await apply(
        store,
        view.reference,
        prompt,
        answer,
        lambda: dd.record_monitoring_visit(store, view.enterprise_id, view.year, visit, answer.answered_by),
    )
    if recorded:
        for reference in dd.cycle_view(store, view.enterprise_id, view.year).cases_opened:
            if reference not in before:
                await start_lifecycle(reference, 1)
