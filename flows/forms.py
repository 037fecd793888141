"""The base of every Resume-dialog form: choices in words, optional fields without "None".

Prefect stores a form's schema when a run suspends (``RunInput.asave``), renders the Resume dialog
from it and validates the answer against it; see ``remediation_flows.core.choices``.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from prefect._internal.pydantic.v2_schema import create_v2_schema
from prefect.input import RunInput
from prefect.input.actions import acreate_flow_run_input, create_flow_run_input
from prefect.input.run_input import Keyset

from remediation_flows.core.choices import AcceptsWords, form_values, worded_schema


class Form(RunInput, AcceptsWords):
    """A RunInput whose stored schema offers words and whose model accepts words or codes."""

    @classmethod
    def model_json_schema(cls, *args: Any, **kwargs: Any) -> dict[str, Any]:  # type: ignore[override]
        """The pydantic schema, worded (the task page builds its form from it)."""
        return worded_schema(super().model_json_schema(*args, **kwargs))

    @classmethod
    def form_schema(cls) -> dict[str, Any]:
        """The schema Prefect 3.8.8 stores for the Resume dialog (``create_v2_schema``), worded."""
        return worded_schema(create_v2_schema(cls.__name__, model_base=cls))

    @classmethod
    async def asave(cls, keyset: Keyset, flow_run_id: UUID | None = None) -> None:
        """As ``RunInput.asave``, with the worded schema."""
        await acreate_flow_run_input(key=keyset["schema"], value=cls.form_schema(), flow_run_id=flow_run_id)
        if isinstance(cls._description, str) and cls._description:
            await acreate_flow_run_input(
                key=keyset["description"], value=cls._description, flow_run_id=flow_run_id
            )

    @classmethod
    def save(cls, keyset: Keyset, flow_run_id: UUID | None = None) -> None:  # type: ignore[override]
        """As ``RunInput.save`` (a synchronous flow's suspension), with the worded schema."""
        create_flow_run_input(key=keyset["schema"], value=cls.form_schema(), flow_run_id=flow_run_id)
        if isinstance(cls._description, str) and cls._description:
            create_flow_run_input(key=keyset["description"], value=cls._description, flow_run_id=flow_run_id)


def resume_input(schema: dict[str, Any], answer: dict[str, Any]) -> dict[str, Any]:
    """``answer`` as the server validates a resume against the worded ``schema``: choices in words,
    and an optional field left empty absent (the form has no "None"), as the Resume dialog sends it."""
    return form_values(schema, {name: value for name, value in answer.items() if value is not None})
