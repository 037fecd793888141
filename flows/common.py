"""What every flow needs: the case store, programmes and mail settings, from blocks or the environment."""

from __future__ import annotations

import os

from prefect.exceptions import ObjectNotFound

from remediation_flows.blocks import CaseStoreConnection, EnterpriseProgramme, MailTransport
from remediation_flows.core.config import ConfigInvalid, Programme
from remediation_flows.core.errors import NotFound
from remediation_flows.core.mail.transport import SmtpSettings
from remediation_flows.core.store import CaseStore
from remediation_flows.core.store.database import DATABASE_URL_VARIABLE

DEFAULT_BLOCK = "default"
_STORES: dict[str, CaseStore] = {}


async def case_store() -> CaseStore:
    """The case store named by the 'default' case-store-connection block, else by the environment."""
    url = os.environ.get(DATABASE_URL_VARIABLE)
    if url is None:
        try:
            block = await CaseStoreConnection.aload(DEFAULT_BLOCK)
            url = block.url.get_secret_value()
        except (ObjectNotFound, ValueError) as error:
            # Never a default file instead: a flow that wrote cases or sent mail from a store nobody
            # named would split the caseload in two, silently.
            raise NotFound(
                f"no case store: the '{DEFAULT_BLOCK}' case-store-connection block cannot be loaded "
                f"({type(error).__name__}: {error}) and ${DATABASE_URL_VARIABLE} is not set"
            ) from None
    key = url
    if key not in _STORES:
        _STORES[key] = CaseStore(url)
    return _STORES[key]


async def programme_from_block(enterprise_id: str) -> Programme:
    """The enterprise's programme from its block; a clear error names the enterprises that exist."""
    try:
        return await EnterpriseProgramme.aload_programme(enterprise_id)
    except (ObjectNotFound, ValueError) as error:
        if isinstance(error, ConfigInvalid):
            raise
        from prefect.client.orchestration import get_client

        async with get_client() as client:
            slug = EnterpriseProgramme.get_block_type_slug()
            documents = await client.read_block_documents_by_type(slug)
        known = ", ".join(sorted(d.name for d in documents)) or "none"
        raise NotFound(
            f"unknown enterprise '{enterprise_id}': "
            f"no enterprise-programme block of that name (known: {known})"
        ) from None


async def mail_settings() -> SmtpSettings:
    """The 'default' mail-transport block's settings."""
    try:
        block = await MailTransport.aload(DEFAULT_BLOCK)
    except (ObjectNotFound, ValueError):
        raise NotFound(
            "no mail-transport block named 'default': create one in the Blocks page (or run `remediate up`)"
        ) from None
    return block.settings()
