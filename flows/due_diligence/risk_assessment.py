"""Step 1: a risk questionnaire for each site, scored with the country's prevalence."""

from __future__ import annotations

from remediation_flows.core.due_diligence import cycle as dd
from remediation_flows.core.due_diligence.risk import SiteQuestionnaire
from remediation_flows.core.store import CaseStore
from remediation_flows.flows.due_diligence.answers import SiteRiskAnswer
from remediation_flows.flows.prompts import apply, ask


async def assess_risk(store: CaseStore, view: dd.CycleView) -> None:
    site_id = next(site for site in view.sites if site not in view.risk_levels)
    prompt = f"{view.reference}-risk-{site_id}"
    answer = await ask(
        store,
        f"Cycle {view.reference}, site {site_id}",
        prompt,
        SiteRiskAnswer,
        question=f"Risk assessment of site {site_id}: workforce, hiring practice and past findings",
        asked_of="the enterprise focal point",
        due=view.due_local,
    )
    questionnaire = SiteQuestionnaire(**answer.model_dump(exclude={"answered_by"}))
    await apply(
        store,
        view.reference,
        prompt,
        answer,
        lambda: dd.record_site_risk(
            store, view.enterprise_id, view.year, site_id, questionnaire, answer.answered_by
        ),
    )
