"""The deployments' forms as a person sees them: choices in words, and open-a-case's enterprises and sites.

Served (``remediation_flows.stack.serve``), each deployment's parameter schema is worded before it is
registered, and open-a-case's offers the enterprises and sites of the enterprise-programme blocks on
the server at that moment. ``remediate config load`` refreshes open-a-case's form after saving a
programme, on a served or a deployed (``prefect deploy``) deployment alike: :func:`refresh_open_a_case`.

A worded form's deployment does not have the server enforce its schema: the flow validates its own
parameters, taking the words the form sends and the codes (and bare ids) API callers send, and
refuses an enterprise or site not in the programmes, naming the known ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from remediation_flows.blocks import EnterpriseProgramme
from remediation_flows.core.choices import programme_choices, with_programme_choices, worded_schema
from remediation_flows.core.config import Programme
from remediation_flows.core.errors import RemediationError

OPEN_A_CASE = "open-a-case"
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
    return worded


def is_worded(schema: dict[str, Any]) -> bool:
    """Whether wording changed the schema, so the flow must take words as well as codes."""
    return worded_schema(schema) != schema


async def refresh_open_a_case() -> bool:
    """Give open-a-case's deployment the programmes' enterprises and sites; False when it has none yet."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import DeploymentUpdate
    from prefect.exceptions import ObjectNotFound
    from prefect.utilities.callables import parameter_schema

    from remediation_flows.flows.remediation.notification import open_a_case

    async with get_client() as client:
        try:
            deployment = await client.read_deployment_by_name(f"{OPEN_A_CASE}/{OPEN_A_CASE}")
        except ObjectNotFound:
            return False
        schema = form_schema(
            OPEN_A_CASE, parameter_schema(open_a_case).model_dump(), await programmes_on_server()
        )
        await client.update_deployment(
            deployment.id,
            DeploymentUpdate(parameter_openapi_schema=schema, enforce_parameter_schema=False),
        )
    return True
