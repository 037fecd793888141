"""The enterprise programme block: one per enterprise, named by its id."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from prefect.blocks.core import Block
from pydantic import Field, ValidationInfo, field_validator, model_validator

from remediation_flows.blocks.programme_form import (
    MORE,
    form_fields,
    form_schema,
    from_form,
    from_form_with_fields,
    to_form,
)
from remediation_flows.core.config import ConfigInvalid, ConfigProblem, Programme, load_programme_document

#: The one field of the blocks saved before the form: the whole document, as in examples/*.yaml.
LEGACY_FIELD = "programme"


def programme_from_block_data(data: Mapping[str, Any], source: str) -> Programme:
    """The validated programme a block's stored data holds, in the form or as an older version saved it.

    Raises :class:`ConfigInvalid` with the CLI's messages; for a form, each message also names the
    form field on the Blocks page that the problem is in.
    """
    if LEGACY_FIELD in data and not any(data.get(name) for name in form_fields()):
        return load_programme_document(data[LEGACY_FIELD], source)
    try:
        document, field_for = from_form_with_fields(data, source)
    except ConfigInvalid as error:
        raise ConfigInvalid(
            [ConfigProblem(p.source, f"Blocks page field {p.path}", p.message) for p in error.problems]
        ) from None
    try:
        return load_programme_document(document, source)
    except ConfigInvalid as error:
        raise ConfigInvalid([_naming_the_field(problem, field_for) for problem in error.problems]) from None


def _naming_the_field(problem: ConfigProblem, field_for: Any) -> ConfigProblem:
    field = field_for(problem.path)
    if field is None:
        return problem
    return ConfigProblem(problem.source, problem.path, f"{problem.message} (Blocks page field: {field})")


class EnterpriseProgramme(Block):
    """An enterprise's remediation and due-diligence programme (contacts, sites, deadlines, ladders).

    Stored as a form of numbered slots (see :mod:`remediation_flows.blocks.programme_form`), which the
    Blocks page shows field by field: Prefect 3.8.8's UI renders the programme schema's lists and
    mappings as raw JSON. ``EnterpriseProgramme(programme=document)`` takes the document as in
    examples/*.yaml, and a block saved by an older version (the whole document in one ``programme``
    field) still loads. The document is checked against schemas/enterprise_programme.schema.json
    whenever the block is saved or loaded, with the same messages as `remediate config validate`.
    """

    _block_type_name = "Enterprise programme"
    _block_type_slug = "enterprise-programme"
    _description = (
        "One enterprise's programme: contacts by role, sites and their calendars, and the deadline, "
        "approval and escalation ladder of every step, in numbered slots; More (JSON) holds anything "
        "beyond them. Validated against the programme schema."
    )

    # The form's top-level fields, as blocks.programme_form lays the programme out (a unit test
    # checks that the two agree); model_json_schema gives each its form.
    enterprise: dict[str, Any] | None = None
    contacts: dict[str, Any] | None = None
    minimum_working_age: dict[str, Any] | None = None
    sites: dict[str, Any] | None = None
    escalation_ladders: dict[str, Any] | None = None
    remediation: dict[str, Any] | None = None
    retention: dict[str, Any] | None = None
    due_diligence: dict[str, Any] | None = None
    # Last, and validated even when absent: its validator checks the whole programme (see below).
    # Text too: JSON a person typed is read, or refused naming the field, by the programme's check.
    more: dict[str, Any] | str | None = Field(default=None, validate_default=True)

    @model_validator(mode="before")
    @classmethod
    def _document_as_form(cls, data: Any) -> Any:
        """``programme=document`` (the callers' way, and every block saved before the form) as the form."""
        if isinstance(data, dict) and LEGACY_FIELD in data:
            document = data[LEGACY_FIELD]
            if not isinstance(document, Mapping):
                try:
                    load_programme_document(document, "block enterprise-programme")
                except ConfigInvalid as error:  # it does: not a mapping, said as the CLI says it
                    raise ValueError(str(error)) from None
            rest = {key: value for key, value in data.items() if key != LEGACY_FIELD}
            return rest | to_form(document)
        return data

    @classmethod
    def model_json_schema(cls, *args: Any, **kwargs: Any) -> dict[str, Any]:  # type: ignore[override]
        """The block's schema: each top-level field as its form of numbered slots and choices."""
        schema = super().model_json_schema(*args, **kwargs)
        for name, form in form_schema().items():
            position = schema["properties"].get(name, {}).get("position")
            schema["properties"][name] = form if position is None else form | {"position": position}
        return schema

    @field_validator(MORE)
    @classmethod
    def _programme_is_valid(
        cls, more: dict[str, Any] | str | None, info: ValidationInfo
    ) -> dict[str, Any] | str | None:
        # A field validator (not a model one) so that errors carry a field's name, which Prefect's
        # block loading expects; the last field's sees every other one.
        form = {**info.data, MORE: more}
        enterprise = form.get("enterprise")
        name = enterprise.get("id", "?") if isinstance(enterprise, dict) else "?"
        try:
            programme_from_block_data(form, f"block enterprise-programme/{name}")
        except ConfigInvalid as error:
            # pydantic shows a ValueError's text; every problem stays on its own line.
            raise ValueError(str(error)) from None
        return more

    @classmethod
    async def aload_programme(cls, name: str) -> Programme:
        """Load the block and check its document, raising ConfigInvalid with every problem.

        A block edited on the Blocks page is saved by the server without this class's
        check, so loading is where such an edit is caught, with the CLI's messages.
        """
        from prefect.client.orchestration import get_client

        # Read the stored document itself: Prefect's own unvalidated load cannot build this block.
        async with get_client() as client:
            document = await client.read_block_document_by_name(name, cls.get_block_type_slug())
        return programme_from_block_data(document.data, f"block enterprise-programme/{name}")

    def form(self) -> dict[str, Any]:
        """The block's fields as the form they are."""
        return {name: getattr(self, name) for name in form_fields()}

    def to_programme(self) -> Programme:
        """The validated, typed programme."""
        return programme_from_block_data(
            self.form(), f"block enterprise-programme/{self._block_document_name}"
        )

    def programme_document(self) -> dict[str, Any]:
        """The programme document the block holds, as in examples/*.yaml (not validated)."""
        return from_form(self.form())
