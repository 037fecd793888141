"""The annual due-diligence report, built from the store and published as an artifact and files.

Published before its approval is asked (flows/due_diligence/questions.py) and when the cycle ends.
"""

from __future__ import annotations

import os
from pathlib import Path

from prefect.artifacts import acreate_markdown_artifact

from remediation_flows.core.due_diligence import cycle as dd
from remediation_flows.core.due_diligence.report import build_report, render_markdown, write_report
from remediation_flows.core.store import CaseStore

REPORTS_DIR = Path(os.environ.get("REMEDIATION_REPORTS_DIR", "var/reports"))


async def publish_report(store: CaseStore, view: dd.CycleView) -> str:
    """Refresh the report artifact and files; returns the Markdown."""
    with store.transaction() as session:
        markdown = render_markdown(build_report(session, view.enterprise_id, view.year))
    await acreate_markdown_artifact(
        key=f"due-diligence-{view.enterprise_id}-{view.year}",
        markdown=markdown,
        description=f"Annual child-labour due-diligence report {view.year}, {view.enterprise_id}",
    )
    write_report(store, view.enterprise_id, view.year, REPORTS_DIR)
    return markdown
