"""What a waiting run says about its wait, in its name and its tags, so the Runs page makes an inbox.

A case run waiting for the on-site assessment is named
``CL-2026-000002 · on-site assessment · due 28 Nov 15:18 (case manager)`` and tagged
``waiting:case-manager``, ``enterprise:…``, ``site:…`` and, once the deadline has passed,
``overdue``: the Runs page's own tag filter then lists what waits for a role, an enterprise or a
site. The acts label a run as it suspends; the sweep adds ``overdue`` to the runs of the cases it
escalates. Names and tags carry references and roles only, never a child's identity.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence

from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    FlowRunFilter,
    FlowRunFilterState,
    FlowRunFilterStateType,
    FlowRunFilterTags,
)
from prefect.client.schemas.objects import StateType
from prefect.context import FlowRunContext

from remediation_flows.flows.remediation.artifacts import role_names

WAITING_PREFIX = "waiting:"
OVERDUE = "overdue"
#: How many case tags one runs query filters on: Prefect on SQLite failed at 200 ("too many
#: arguments on function json_array") when a sweep escalated 300 cases.
TAGS_PER_QUERY = 50
#: The tags a wait sets; a new wait replaces them, every other tag of the run stays.
_WAIT_TAG_PREFIXES = (WAITING_PREFIX, "enterprise:", "site:")


def role_tag(role: str) -> str:
    """``waiting:case-manager`` for the role ``case_manager``."""
    return WAITING_PREFIX + role.replace("_", "-")


def short_due(due_local: str) -> str:
    """``28 Nov 15:18`` from a site-time stamp ``2026-11-28 15:18 (Asia/Dhaka, UTC+06:00)``."""
    return dt.datetime.strptime(due_local[:16], "%Y-%m-%d %H:%M").strftime("%d %b %H:%M").lstrip("0")


def wait_name(subject: str, step: str, due_local: str | None, roles: Sequence[str]) -> str:
    """The run's name while it waits: subject, step, due date in site time, and who must act."""
    who = role_names(roles) or "nobody named"
    due = f" · due {short_due(due_local)}" if due_local else ""
    words = step.replace("_", " ").replace("on site", "on-site")
    return f"{subject} · {words}{due} ({who})"


def wait_tags(
    enterprise_id: str,
    site_id: str | None,
    roles: Iterable[str],
    due_at: dt.datetime | None,
    now: dt.datetime,
) -> list[str]:
    """The tags of a waiting run: who must act, where, and ``overdue`` once the deadline has passed."""
    tags = [role_tag(role) for role in roles] + [f"enterprise:{enterprise_id}"]
    if site_id:
        tags.append(f"site:{site_id}")
    if due_at is not None and due_at < now:
        tags.append(OVERDUE)
    return tags


def relabelled(current: Iterable[str], tags: Iterable[str]) -> list[str]:
    """The run's tags with its previous wait's tags replaced by ``tags``."""
    kept = [t for t in current if not t.startswith(_WAIT_TAG_PREFIXES) and t != OVERDUE]
    return kept + [t for t in tags if t not in kept]


#: The name and tags this process last gave each run: a label that changes nothing is not sent again.
_LABELLED: dict[str, tuple[str, list[str]]] = {}


async def label_this_wait(name: str, tags: list[str]) -> None:
    """Rename and retag the running flow run before it suspends; nothing is sent if nothing changes.

    A resumed run starts a new process that asks its answered question again first, under the label
    it already carries: the run as the engine read it at the start says so, without a request.
    """
    context = FlowRunContext.get()
    if context is None or context.flow_run is None:
        return
    run = context.flow_run
    current_name, current_tags = _LABELLED.get(str(run.id), (run.name, list(run.tags)))
    new_tags = relabelled(current_tags, tags)
    if name == current_name and sorted(new_tags) == sorted(current_tags):
        return
    async with get_client() as client:
        await client.update_flow_run(run.id, name=name, tags=new_tags)
    _LABELLED[str(run.id)] = (name, new_tags)


async def mark_overdue(case_tags: Iterable[str]) -> int:
    """Add ``overdue`` to the waiting runs tagged with any of ``case_tags``; returns how many changed."""
    wanted = sorted(set(case_tags))
    changed = 0
    async with get_client() as client:
        # A tag filter is one SQL function argument per tag, and SQLite allows about a hundred.
        for start in range(0, len(wanted), TAGS_PER_QUERY):
            runs = await client.read_flow_runs(
                flow_run_filter=FlowRunFilter(
                    tags=FlowRunFilterTags(any_=wanted[start : start + TAGS_PER_QUERY]),
                    state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.PAUSED])),
                ),
                limit=200,
            )
            for run in runs:
                if OVERDUE not in run.tags:
                    await client.update_flow_run(run.id, tags=[*run.tags, OVERDUE])
                    changed += 1
    return changed
