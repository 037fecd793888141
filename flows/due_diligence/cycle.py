"""An enterprise's yearly due-diligence cycle: one run, suspended whenever it waits for a person."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from prefect import flow, get_run_logger
from prefect.artifacts import acreate_markdown_artifact
from pydantic import BeforeValidator, Field

from remediation_flows.core.choices import id_from_label
from remediation_flows.core.due_diligence import cycle as dd
from remediation_flows.flows.common import case_store, programme_from_block
from remediation_flows.flows.due_diligence.communication import publish_report
from remediation_flows.flows.due_diligence.questions import ask_and_apply, question_for


def cycle_markdown(view: dd.CycleView) -> str:
    lines = [f"# Due-diligence cycle {view.reference}", "", f"- **Step:** {view.step.replace('_', ' ')}"]
    if view.due_local:
        lines.append(f"- **Due by:** {view.due_local}")
    if view.risk_levels:
        lines.append(
            "- **Risk:** " + ", ".join(f"{site} {level}" for site, level in view.risk_levels.items())
        )
    if view.pending_approvals:
        lines.append("- **Awaiting approval by:** " + ", ".join(view.pending_approvals))
    if view.cases_opened:
        lines.append("- **Cases opened by monitoring:** " + ", ".join(view.cases_opened))
    return "\n".join(lines)


def _id_from_choice(value: object) -> object:
    return id_from_label(value) if isinstance(value, str) else value


#: The form offers "Northwind Apparel Ltd (northwind-apparel)"; schedules and API callers give the id.
EnterpriseChoice = Annotated[
    str, BeforeValidator(_id_from_choice), Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$", title="Enterprise")
]


@flow(name="due-diligence-cycle", description="An enterprise's yearly child-labour due-diligence cycle.")
async def due_diligence_cycle(
    enterprise_id: EnterpriseChoice,
    year: Annotated[int | None, Field(ge=2020, le=2100, title="Year (default: this year)")] = None,
    started_by: Annotated[str, Field(title="Started by")] = "schedule",
) -> str:
    """Run the cycle's steps in order until the annual report is approved; returns the final step."""
    logger = get_run_logger()
    store = await case_store()
    year = year or dt.date.today().year
    programme = await programme_from_block(enterprise_id)
    view = dd.start_cycle(store, programme, year, started_by)
    while True:
        view = dd.cycle_view(store, enterprise_id, year)
        await acreate_markdown_artifact(
            key=f"cycle-{view.reference.lower()}",
            markdown=cycle_markdown(view),
            description=f"Due-diligence cycle {view.reference}",
        )
        if view.is_finished:
            await publish_report(store, view)
            logger.info("%s is complete", view.reference)
            return view.step
        logger.info("%s: %s", view.reference, view.step)
        await ask_and_apply(store, view, question_for(view))
