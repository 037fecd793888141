"""The inboxes: one markdown artifact per role (and one for all) of every open wait, most urgent first.

Refreshed by the escalation sweep from the store (a fixed number of queries, see core/inbox.py) and
one paged read of the waiting case runs, so that each row links straight to the run whose Resume
button answers it. Keyed artifacts: Prefect shows the latest under Artifacts, ``inbox-<role>``.
"""

from __future__ import annotations

from prefect.artifacts import acreate_markdown_artifact
from prefect.client.schemas.objects import StateType
from prefect.settings import PREFECT_API_URL, PREFECT_UI_URL

from remediation_flows.core.inbox import Wait, waits_by_role
from remediation_flows.flows.remediation.artifacts import ROLE_NAMES, role_name, role_names
from remediation_flows.flows.remediation.runs import lifecycle_runs

#: Every role's inbox, and the one of all waits.
ALL = "all"


def ui_url() -> str:
    """The Prefect UI's address: its setting, else the API's address without ``/api``."""
    configured = PREFECT_UI_URL.value()
    if configured:
        return str(configured).rstrip("/")
    return str(PREFECT_API_URL.value() or "").removesuffix("/").removesuffix("/api")


def inbox_markdown(role: str, waits: list[Wait], runs: dict[str, str], ui: str) -> str:
    """One role's inbox as a markdown table, most urgent first, each case linked to its waiting run."""
    who = "everyone" if role == ALL else f"the {role_name(role)}"
    lines = [
        f"# What waits for {who}",
        "",
        f"{len(waits)} open wait(s), most urgent first. Follow a case's link to its run: its Resume button "
        "asks the question.",
        "",
        "| case | step | enterprise | site | due (site time) | working days late | escalation | waits for |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for wait in waits:
        run = runs.get(wait.reference)
        case = f"[{wait.reference}]({ui}/runs/flow-run/{run})" if run else wait.reference
        late = str(wait.working_days_late) + (f" (on hold {wait.on_hold})" if wait.on_hold else "")
        lines.append(
            f"| {case} | {wait.step.replace('_', ' ')} | {wait.enterprise_id} | {wait.site_id} | "
            f"{wait.due_local} | {late} | {wait.escalation_level} | {role_names(wait.roles)} |"
        )
    return "\n".join(lines)


def inbox_key(role: str) -> str:
    """``inbox-case-manager`` for ``case_manager``: artifact keys take lowercase letters, digits, dashes."""
    return "inbox-" + role.replace("_", "-")


async def publish_inboxes(waits: list[Wait]) -> list[str]:
    """Refresh the inbox of every role that has waits, of every role in ROLE_NAMES, and of all."""
    runs = await lifecycle_runs([StateType.PAUSED])
    ui = ui_url()
    by_role = waits_by_role(waits)
    keys = []
    for role in [ALL, *dict.fromkeys([*ROLE_NAMES, *by_role])]:
        mine = waits if role == ALL else by_role.get(role, [])
        key = inbox_key(role)
        await acreate_markdown_artifact(
            key=key,
            markdown=inbox_markdown(role, mine, runs, ui),
            description=f"What waits for {'everyone' if role == ALL else role}, most urgent first",
        )
        keys.append(key)
    return keys
