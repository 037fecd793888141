"""The deployments' forms as a person sees them: choices in words, and the programmes' enterprises and sites.

Served (``remediation_flows.stack.serve``), each deployment's parameter schema is worded before it is
registered; open-a-case's offers the enterprises and sites of the enterprise-programme blocks on the
server at that moment, and due-diligence-cycle's the enterprises. ``remediate config load`` refreshes
both forms after saving a programme, on a served or a deployed (``prefect deploy``) deployment alike:
:func:`refresh_programme_choices`.

A worded form's deployment does not have the server enforce its schema: the flow validates its own
parameters, taking the words the form sends and the codes (and bare ids) API callers send, and
refuses an enterprise or site not in the programmes, naming the known ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from remediation_flows.blocks import EnterpriseProgramme
from remediation_flows.core.choices import (
    programme_choices,
    with_enterprise_choices,
    with_programme_choices,
    worded_schema,
)
from remediation_flows.core.config import Programme
from remediation_flows.core.errors import RemediationError

OPEN_A_CASE = "open-a-case"
DUE_DILIGENCE_CYCLE = "due-diligence-cycle"
#: The deployments whose forms offer the programmes' enterprises (and sites).
WITH_PROGRAMME_CHOICES = (OPEN_A_CASE, DUE_DILIGENCE_CYCLE)
#: The definition in open-a-case's parameter schema whose enterprise_id and site_id become choices.
NOTIFICATION_MODEL = "CaseNotification"


async def programmes_on_server() -> list[Programme]:
    """Every valid enterprise-programme block on the Prefect server (an invalid one is left out)."""
    from prefect.client.orchestration import get_client

    async with get_client() as client:
        documents = await client.read_block_documents_by_type(EnterpriseProgramme.get_block_type_slug())
    found = []
    for document in documents:
        try:
            found.append(await EnterpriseProgramme.aload_programme(document.name))
        except RemediationError:
            continue  # refused, with its reasons, when a flow loads it
    return found


def form_schema(
    deployment_name: str, schema: dict[str, Any], programmes: Sequence[Programme]
) -> dict[str, Any]:
    """The deployment's parameter schema as its form should show it."""
    worded = worded_schema(schema)
    if deployment_name == OPEN_A_CASE:
        worded = with_programme_choices(worded, NOTIFICATION_MODEL, *programme_choices(programmes))
    elif deployment_name == DUE_DILIGENCE_CYCLE:
        worded = with_enterprise_choices(worded, programme_choices(programmes)[0])
    return worded


def is_worded(schema: dict[str, Any]) -> bool:
    """Whether wording changed the schema, so the flow must take words as well as codes."""
    return worded_schema(schema) != schema


def _flows_by_deployment() -> dict[str, Any]:
    from remediation_flows.flows.due_diligence.cycle import due_diligence_cycle
    from remediation_flows.flows.remediation.notification import open_a_case

    return {OPEN_A_CASE: open_a_case, DUE_DILIGENCE_CYCLE: due_diligence_cycle}


async def refresh_programme_choices() -> list[str]:
    """Give open-a-case's and due-diligence-cycle's deployments the programmes' enterprises and sites.

    Returns the names of the deployments refreshed: those on the server (none before the first
    `remediate up` or `prefect deploy`).
    """
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import DeploymentUpdate
    from prefect.exceptions import ObjectNotFound
    from prefect.utilities.callables import parameter_schema

    refreshed = []
    async with get_client() as client:
        programmes = await programmes_on_server()
        for name, flow in _flows_by_deployment().items():
            try:
                deployment = await client.read_deployment_by_name(f"{name}/{name}")
            except ObjectNotFound:
                continue
            schema = form_schema(name, parameter_schema(flow).model_dump(), programmes)
            await client.update_deployment(
                deployment.id,
                DeploymentUpdate(parameter_openapi_schema=schema, enforce_parameter_schema=False),
            )
            refreshed.append(name)
    return refreshed
