"""The base of every Resume-dialog form: choices in words, optional fields without "None".

Prefect stores a form's schema from ``model_json_schema`` when a run suspends, renders the Resume
dialog from it and validates the answer against it; see ``remediation_flows.core.choices``.
"""

from __future__ import annotations

from typing import Any

from prefect.input import RunInput

from remediation_flows.core.choices import AcceptsWords, form_values, worded_schema


class Form(RunInput, AcceptsWords):
    """A RunInput whose schema offers words and whose model accepts words or codes."""

    @classmethod
    def model_json_schema(cls, *args: Any, **kwargs: Any) -> dict[str, Any]:  # type: ignore[override]
        """The pydantic schema, worded for the Resume dialog (and the task page, which reads the same)."""
        return worded_schema(super().model_json_schema(*args, **kwargs))


def resume_input(schema: dict[str, Any], answer: dict[str, Any]) -> dict[str, Any]:
    """``answer`` as the server validates a resume against the worded ``schema``: choices in words,
    and an optional field left empty absent (the form has no "None"), as the Resume dialog sends it."""
    return form_values(schema, {name: value for name, value in answer.items() if value is not None})
