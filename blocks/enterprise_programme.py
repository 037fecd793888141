"""The enterprise programme block: one per enterprise, named by its id."""

from __future__ import annotations

from typing import Any

from prefect.blocks.core import Block
from pydantic import Field, model_validator

from remediation_core.config import ConfigInvalid, Programme, load_programme_document


class EnterpriseProgramme(Block):
    """An enterprise's remediation and due-diligence programme (contacts, sites, deadlines, ladders).

    The document follows schemas/enterprise_programme.schema.json and is checked
    whenever the block is saved or loaded, with the same messages as
    `remediate config validate`.
    """

    _block_type_name = "Enterprise programme"
    _block_type_slug = "enterprise-programme"
    _description = (
        "One enterprise's programme: contacts by role, sites and their calendars, and the deadline, "
        "approval and escalation ladder of every step. Validated against the programme schema."
    )

    programme: dict[str, Any] = Field(
        title="Programme document",
        description="The programme, as in examples/*.yaml; see schemas/enterprise_programme.schema.json.",
    )

    @model_validator(mode="after")
    def _programme_is_valid(self) -> EnterpriseProgramme:
        enterprise = self.programme.get("enterprise")
        name = enterprise.get("id", "?") if isinstance(enterprise, dict) else "?"
        try:
            load_programme_document(self.programme, f"block enterprise-programme/{name}")
        except ConfigInvalid as error:
            # pydantic shows a ValueError's text; every problem stays on its own line.
            raise ValueError(str(error)) from None
        return self

    def to_programme(self) -> Programme:
        """The validated, typed programme."""
        return load_programme_document(
            self.programme, f"block enterprise-programme/{self._block_document_name}"
        )
