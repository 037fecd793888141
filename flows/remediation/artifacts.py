"""The case's keyed markdown artifact (refreshed at every step) and the open-cases table (by the sweep).

A step refreshes only its own case: rebuilding the table of every open case at every step made a
step's cost, and Prefect's database, grow with the number of other open cases.
"""

from __future__ import annotations

from collections.abc import Iterable

from prefect.artifacts import acreate_markdown_artifact, acreate_table_artifact

from remediation_flows.core import casework as cw
from remediation_flows.core.store import CaseStore

ROLE_NAMES = {
    "enterprise_focal_point": "enterprise focal point",
    "enterprise_leadership": "enterprise leadership",
    "program_manager": "program manager",
    "case_manager": "case manager",
    "supervisor": "supervisor",
    "director": "director",
}


def role_name(role: str) -> str:
    """A role in words: ``case manager`` for ``case_manager``."""
    return ROLE_NAMES.get(role, role.replace("_", " "))


def role_names(roles: Iterable[str]) -> str:
    """Roles in words, separated by commas."""
    return ", ".join(role_name(role) for role in roles)


def waiting_on(view: cw.CaseView) -> str:
    """Who the case is waiting for, in a few words."""
    if view.is_finished:
        return "nobody: the case is " + view.state
    if view.pending_approvals:
        return "approval of the plan by " + role_names(view.pending_approvals)
    if view.closure_pending:
        return "closure approval by " + role_names(view.closure_pending)
    if view.open_milestones:
        first = view.open_milestones[0]
        return f"{role_name(first.owner_role)}: {first.title}"
    return "the program manager"


def case_markdown(view: cw.CaseView) -> str:
    lines = [
        f"# Case {view.reference}",
        "",
        f"- **Stage:** {view.state.replace('_', ' ')} (round {view.round})",
        f"- **Enterprise / site:** {view.enterprise_id} / {view.site_name} ({view.site_id})",
        f"- **Assessment outcome:** {view.outcome or 'not yet assessed'}",
        f"- **Waiting on:** {waiting_on(view)}",
        "",
    ]
    if view.open_milestones:
        lines += [
            "| milestone | owner | due (site time) | escalation level | on hold |",
            "|---|---|---|---|---|",
        ]
        for m in view.open_milestones:
            owner, held = role_name(m.owner_role), m.on_hold or "-"
            lines.append(f"| {m.title} | {owner} | {m.due_local} | {m.escalation} | {held} |")
    else:
        lines.append("No open milestones.")
    if view.plan_status:
        lines += [
            "",
            f"Remediation plan: {view.plan_status} (plans proposed this round: {view.plans_proposed})",
        ]
    if view.effective_on:
        lines.append(f"Reintegrated from {view.effective_on}; follow-up visits so far: {view.visits_done}")
    if view.decisions:
        lines += [
            "",
            "| approval | decision | who | as (role) | how we know | when (UTC) |",
            "|---|---|---|---|---|---|",
        ]
        for d in view.decisions:
            when = f"{d.decided_at:%Y-%m-%d %H:%M}" if d.decided_at else ""
            who = d.decided_for or d.recorded_by or ""
            lines.append(f"| {d.subject} | {d.status} | {who} | {role_name(d.role)} | {d.how} | {when} |")
    if view.ledger:
        lines += ["", "**Stipend ledger**", ""] + [f"- {line}" for line in view.ledger]
    if view.evidence:
        # By hash, type and size only: a letter or photo may show the child, so it stays in the store.
        lines += [
            "",
            "| evidence for | sha256 | type | bytes | given by | how we know | when (UTC) |",
            "|---|---|---|---|---|---|---|",
        ]
        for e in view.evidence:
            how = "verified by task link" if e.verified else "added by staff"
            lines.append(
                f"| {e.step} | {e.sha256} | {e.media_type} | {e.size} | {e.uploaded_by} | {how} "
                f"| {e.uploaded_at:%Y-%m-%d %H:%M} |"
            )
    return "\n".join(lines)


def artifact_key(reference: str) -> str:
    return "case-" + reference.lower()


async def publish_case(view: cw.CaseView) -> None:
    """Refresh the case's artifact."""
    await acreate_markdown_artifact(
        key=artifact_key(view.reference),
        markdown=case_markdown(view),
        description=f"Case {view.reference}: stage, milestones and who is waiting on whom",
    )


async def publish_open_cases(store: CaseStore) -> None:
    """Refresh the table of every case in progress (the escalation sweep calls this)."""
    rows = [
        {
            "case": v.reference,
            "enterprise": v.enterprise_id,
            "site": v.site_id,
            "stage": v.state,
            "waiting on": waiting_on(v),
            "next due": v.open_milestones[0].due_local if v.open_milestones else "",
        }
        for v in cw.open_case_views(store)
    ]
    await acreate_table_artifact(key="open-cases", table=rows, description="Every case still in progress")
