"""The enterprise programme block: one per enterprise, named by its id."""

from __future__ import annotations

from typing import Any

from prefect.blocks.core import Block
from pydantic import Field, field_validator

from remediation_flows.core.config import ConfigInvalid, Programme, load_programme_document
from remediation_flows.core.config.loader import PROGRAMME_SCHEMA, load_schema


def _as_block_form(node: Any, definitions: dict[str, Any]) -> Any:
    """The programme schema as Prefect 3.8.8's UI renders a block's as a form.

    Its references are written out in place (the UI showed a referenced list of people as JSON),
    each property gets a title from its name (the UI showed nested ones unlabelled), and ``oneOf``
    becomes ``anyOf``, which the UI offers as a switch (it renders no ``oneOf``).
    """
    if isinstance(node, list):
        return [_as_block_form(item, definitions) for item in node]
    if not isinstance(node, dict):
        return node
    if isinstance(node.get("$ref"), str):
        referenced = definitions[node["$ref"].rsplit("/", 1)[-1]]
        rest = {key: value for key, value in node.items() if key != "$ref"}
        return _as_block_form({**referenced, **rest}, definitions)
    converted: dict[str, Any] = {}
    for key, value in node.items():
        if key == "oneOf":
            converted["anyOf"] = _as_block_form(value, definitions)
        elif key == "properties" and isinstance(value, dict):
            converted[key] = {
                name: {"title": _TITLES.get(name, name.replace("_", " ").capitalize())}
                | _as_block_form(prop, definitions)
                for name, prop in value.items()
            }
        elif key not in ("$schema", "$id", "$defs"):
            converted[key] = _as_block_form(value, definitions)
    return converted


_TITLES = {"id": "ID", "ics": "ICS"}


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

    @classmethod
    def model_json_schema(cls, *args: Any, **kwargs: Any) -> dict[str, Any]:  # type: ignore[override]
        """The block's schema, whose programme is the programme schema itself.

        So the Blocks page shows and edits the programme as a form of its parts (enterprise,
        contacts by role, sites with their calendars, steps, ladders) rather than one line of JSON.
        The document is still checked in full, with the CLI's messages, whenever it is loaded.
        """
        schema = super().model_json_schema(*args, **kwargs)
        programme_schema = load_schema(PROGRAMME_SCHEMA)
        field = schema["properties"]["programme"]
        body = {k: v for k, v in programme_schema.items() if k not in ("title", "description")}
        schema["properties"]["programme"] = {
            **_as_block_form(body, programme_schema.get("$defs", {})),
            "title": field["title"],
            "description": field["description"],
            "position": field.get("position", 0),
        }
        return schema

    @field_validator("programme")
    @classmethod
    def _programme_is_valid(cls, programme: dict[str, Any]) -> dict[str, Any]:
        # A field validator (not a model one) so that errors carry the field's name,
        # which Prefect's block loading expects.
        enterprise = programme.get("enterprise")
        name = enterprise.get("id", "?") if isinstance(enterprise, dict) else "?"
        try:
            load_programme_document(programme, f"block enterprise-programme/{name}")
        except ConfigInvalid as error:
            # pydantic shows a ValueError's text; every problem stays on its own line.
            raise ValueError(str(error)) from None
        return programme

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
        return load_programme_document(document.data.get("programme"), f"block enterprise-programme/{name}")

    def to_programme(self) -> Programme:
        """The validated, typed programme."""
        return load_programme_document(
            self.programme, f"block enterprise-programme/{self._block_document_name}"
        )
