"""Reading a running stack for `remediate status` and the status line of `remediate up`.

The rules (late schedules, log errors, wording) live in ``remediation_flows/core/status.py``; this
module finds the stack, asks the Prefect API and the case store, and fills them in.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
from pathlib import Path

from remediation_flows.core.errors import RemediationError
from remediation_flows.core.status import (
    DeploymentStatus,
    StackStatus,
    outbox_backlog,
    read_log_tail,
    scan_server_log,
)
from remediation_flows.core.store import CaseStore, check_store, database_url, display_url

#: The scheduled deployments that make the system run by itself: flow name, deployment name.
SCHEDULED = (("escalation-sweep", "escalation-sweep"), ("outbox-dispatcher", "outbox-dispatcher"))
LIFECYCLE_FLOW = "case-lifecycle"
#: How many recent runs to search for the last scheduled one: a dispatcher's event-triggered runs
#: come between its scheduled ones, though hardly 200 within two of its intervals.
RECENT_RUNS = 200


class StackUnreachable(RemediationError):
    """No running stack answers where the status looked; the message says where and what to do."""


def locate_stack(
    home: Path, url: str | None = None, server_log: Path | None = None
) -> tuple[str, str, Path | None]:
    """The Prefect API, the case store and the server log of the stack to report on.

    A stack that `remediate up` started in ``home`` wrote ``home/stack.json``: its addresses and
    its server log are used. Otherwise ``PREFECT_API_URL`` and the store the commands resolve
    (``url``, ``$REMEDIATION_DATABASE_URL``, the home's store); its server log is not known
    unless given.
    """
    state_file = home / "stack.json"
    if state_file.is_file():
        try:
            state = json.loads(state_file.read_text())
            api_url, store_url = state["api_url"], state["case_store_url"]
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise StackUnreachable(f"{state_file}: not a stack description ({error})") from None
        return api_url, url or store_url, server_log or home / "prefect-server.log"
    api_url = os.environ.get("PREFECT_API_URL")
    if not api_url:
        raise StackUnreachable(
            f"no stack runs from {home} (no {state_file.name}) and PREFECT_API_URL is not set: "
            "start one with `remediate up`, or pass --home"
        )
    return api_url, database_url(url, home=home), server_log


async def _deployment_status(client, flow_name: str, name: str, now: dt.datetime) -> DeploymentStatus:
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterDeploymentId,
        FlowRunFilterStartTime,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType
    from prefect.client.schemas.sorting import FlowRunSort
    from prefect.exceptions import ObjectNotFound

    try:
        deployment = await client.read_deployment_by_name(f"{flow_name}/{name}")
    except ObjectNotFound:
        return DeploymentStatus(name=name, found=False)
    status = DeploymentStatus(name=name, paused=bool(deployment.paused))
    intervals = [
        (schedule.schedule.interval, schedule.created)
        for schedule in deployment.schedules
        if schedule.active and getattr(schedule.schedule, "interval", None)
    ]
    if intervals:
        status.interval = min(interval for interval, _ in intervals)
        # Serving a deployment replaces its schedules: their creation is when this runner began.
        status.scheduled_since = min((created for _, created in intervals if created), default=None)
    by_deployment = FlowRunFilterDeploymentId(any_=[deployment.id])
    last = await client.read_flow_runs(
        flow_run_filter=FlowRunFilter(
            deployment_id=by_deployment, start_time=FlowRunFilterStartTime(is_null_=False)
        ),
        sort=FlowRunSort.START_TIME_DESC,
        limit=1,
    )
    if last:
        run = last[0]
        status.last_state = run.state.name if run.state else None
        status.last_at = run.end_time or run.start_time
    working = await client.read_flow_runs(
        flow_run_filter=FlowRunFilter(
            deployment_id=by_deployment,
            state=FlowRunFilterState(
                type=FlowRunFilterStateType(any_=[StateType.COMPLETED, StateType.RUNNING])
            ),
        ),
        sort=FlowRunSort.START_TIME_DESC,
        limit=RECENT_RUNS,
    )
    status.last_scheduled_start = next((r.start_time for r in working if r.auto_scheduled), None)
    return status


async def _suspended_lifecycles(client) -> int:
    from prefect.client.schemas.filters import (
        FlowFilter,
        FlowFilterName,
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType

    return await client.count_flow_runs(
        flow_filter=FlowFilter(name=FlowFilterName(any_=[LIFECYCLE_FLOW])),
        flow_run_filter=FlowRunFilter(
            state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.PAUSED]))
        ),
    )


async def collect_status(
    api_url: str,
    store_url: str,
    *,
    server_log: Path | None = None,
    mail_limit: dt.timedelta = dt.timedelta(minutes=30),
    now: dt.datetime | None = None,
    auth_string: str | None = None,
) -> StackStatus:
    """Ask the Prefect API at ``api_url`` and the case store what the stack has done lately.

    ``auth_string`` is the stack's ``user:password``; without it, Prefect's own setting
    (``PREFECT_API_AUTH_STRING``) applies. Raises :class:`StackUnreachable` when the API does not
    answer or refuses the credentials, and ``StoreNotReady`` when the store is missing or without
    its schema.
    """
    from prefect.client.orchestration import get_client
    from prefect.exceptions import PrefectHTTPStatusError
    from prefect.settings import PREFECT_API_AUTH_STRING, PREFECT_API_URL, temporary_settings

    now = now or dt.datetime.now(dt.UTC)
    check_store(store_url)
    settings: dict = {PREFECT_API_URL: api_url}
    if auth_string is not None:
        settings[PREFECT_API_AUTH_STRING] = auth_string
    with temporary_settings(updates=settings):
        async with get_client() as client:
            failure = await client.api_healthcheck()
            if failure is not None:
                reason = (str(failure).strip() or type(failure).__name__).splitlines()[0]
                raise StackUnreachable(
                    f"the Prefect API at {api_url} does not answer ({reason}): is the stack running "
                    "(`remediate up`)?"
                )
            try:
                deployments = [await _deployment_status(client, f, d, now) for f, d in SCHEDULED]
                suspended = await _suspended_lifecycles(client)
            except PrefectHTTPStatusError as error:
                if error.response.status_code != 401:
                    raise
                # /health answers anyone; the rest of the API only the holder of the auth string.
                raise StackUnreachable(
                    f"the Prefect API at {api_url} refused the credentials (401): pass --home of the "
                    "stack (its prefect-auth file), or set PREFECT_API_AUTH_STRING"
                ) from None
    store = CaseStore(store_url)
    try:
        backlog = outbox_backlog(store)
    finally:
        store.dispose()
    log = None
    if server_log is not None and (tail := read_log_tail(server_log)) is not None:
        lines, last_write = tail
        log = scan_server_log(lines, last_write=last_write, now=now)
    return StackStatus(
        now=now,
        api_url=api_url,
        store_url=display_url(store_url),
        deployments=deployments,
        backlog=backlog,
        suspended=suspended,
        mail_limit=mail_limit,
        log=log,
        log_path=server_log if log is not None else None,
    )


def stack_status(
    home: Path,
    url: str | None = None,
    *,
    server_log: Path | None = None,
    mail_limit: dt.timedelta = dt.timedelta(minutes=30),
) -> StackStatus:
    """Locate the stack run from ``home`` and report on it (see :func:`collect_status`)."""
    api_url, store_url, log = locate_stack(home, url, server_log)
    return asyncio.run(
        collect_status(
            api_url, store_url, server_log=log, mail_limit=mail_limit, auth_string=stack_auth_string(home)
        )
    )


def stack_auth_string(home: Path) -> str | None:
    """The auth string of the stack `remediate up` runs from ``home``; None when no stack.json is there.

    Without a stack.json the status found the server by ``PREFECT_API_URL``, whose credentials are
    Prefect's own setting, ``PREFECT_API_AUTH_STRING``.
    """
    from remediation_flows.stack.embedded import StackError, StackPaths, read_auth_string

    paths = StackPaths(home)
    if not paths.state_file.is_file():
        return None
    try:
        return read_auth_string(paths)
    except StackError as error:
        raise StackUnreachable(str(error)) from None
