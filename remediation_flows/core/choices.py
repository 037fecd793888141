"""Choices in a form read as words: the words for each code, and the forms' schemas rewritten to show them.

Prefect 3.8.8's UI renders a string ``enum`` as a select whose options are the values themselves (it
reads no ``title`` per value, and no ``oneOf``), and an optional field (``anyOf: [X, null]``) as a
switch between X and "None", whose None side says 'Property is type "None"'. So a form's schema is
rewritten here before Prefect stores it:

- every choice's values become words ("Grievance channel", not ``grievance_channel``);
- an optional field is its one type, left out of ``required``: the UI marks it "(Optional)" and an
  empty field is simply absent.

The models behind the forms (:class:`AcceptsWords`) take either the words or the codes, so that a
person picks words and an API caller may still send codes; the flows receive the codes as enums.
The enterprise and site choices of ``open-a-case`` are built here from the programmes.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Mapping
from enum import StrEnum
from types import UnionType
from typing import TYPE_CHECKING, Any, Union, get_args, get_origin

from pydantic import BaseModel, BeforeValidator, model_validator

if TYPE_CHECKING:
    from remediation_flows.core.config import Programme

#: Words where the code, its underscores made spaces, would not read well.
WORDS: dict[str, str] = {
    "supplier_self_report": "Supplier self-report",
    "grievance_channel": "Grievance channel",
    "brand": "Brand",
    "forged_id": "Forged ID",
    "labour_agent": "Labour agent",
    "unknown": "Not known",
    "identity_documents": "Identity documents",
    "parents_or_community": "Parents or community",
    "labour_office": "Local labour office",
    "medical_check": "Medical check",
    "child_labourer": "Child labourer (under the site's minimum working age)",
    "young_worker": "Young worker (above the minimum age, under 18)",
    "not_a_child": "Not a child (18 or over)",
    "young_worker_protection": "Young-worker protection (keeps the job)",
    "ngo": "The NGO",
    "shared": "Shared (supplier and brand)",
    "program_manager": "Program manager",
    "enterprise_focal_point": "Enterprise focal point",
    "enterprise_leadership": "Enterprise leadership",
    "reported_in_error": "Reported in error",
    "labour_office_not_answered": "The labour office has not answered",
    "school_term_not_started": "The school term has not started",
}


def word_for(code: str) -> str:
    """The words a person reads for ``code``: ``grievance_channel`` → "Grievance channel"."""
    return WORDS.get(code) or code.replace("_", " ").capitalize()


def _choice_enum(annotation: Any) -> type[StrEnum] | None:
    """The StrEnum a field's annotation chooses from (``E`` or ``E | None``), else None."""
    if isinstance(annotation, type) and issubclass(annotation, StrEnum):
        return annotation
    if get_origin(annotation) in (Union, UnionType):
        found = [_choice_enum(arg) for arg in get_args(annotation) if arg is not type(None)]
        return found[0] if len(found) == 1 else None
    return None


def code_for(enum: type[StrEnum], value: Any) -> Any:
    """The code of ``enum`` that ``value`` names, in words or as the code; other values as they are."""
    if isinstance(value, str) and not isinstance(value, StrEnum):
        for member in enum:
            if value == word_for(member.value):
                return member.value
    return value


def accepts_words(enum: type[StrEnum]) -> BeforeValidator:
    """For ``Annotated[E, accepts_words(E)]``: a flow parameter that takes a choice's words or its code."""
    return BeforeValidator(lambda value: code_for(enum, value))


class AcceptsWords(BaseModel):
    """A form's model: each choice is given in words (from the UI) or as its code (from the API)."""

    @model_validator(mode="before")
    @classmethod
    def _codes_from_words(cls, data: Any) -> Any:
        if not isinstance(data, Mapping):
            return data
        coded = dict(data)
        for name, info in cls.model_fields.items():
            enum = _choice_enum(info.annotation)
            key = info.alias or name
            if enum is not None and key in coded:
                coded[key] = code_for(enum, coded[key])
        return coded


def _is_null(schema: Any) -> bool:
    return isinstance(schema, dict) and schema.get("type") == "null"


def _rewrite(node: Any) -> Any:
    if isinstance(node, list):
        return [_rewrite(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: _rewrite(value) for key, value in node.items()}
    enum = node.get("enum")
    if isinstance(enum, list) and enum and all(isinstance(value, str) for value in enum):
        node["enum"] = [word_for(value) for value in enum]
        if isinstance(node.get("default"), str):
            node["default"] = word_for(node["default"])
    options = node.get("anyOf")
    if isinstance(options, list) and len(options) == 2 and any(_is_null(o) for o in options):
        (kept,) = [option for option in options if not _is_null(option)]
        node.pop("anyOf")
        if node.get("default", "absent") is None:
            node.pop("default")
        # The outer title and description win over the kept type's own (an enum's class name).
        node = {**kept, **node} if "$ref" not in kept else {"allOf": [kept], **node}
    properties = node.get("properties")
    if isinstance(properties, dict) and "required" in node:
        node["required"] = [name for name in node["required"] if name in properties]
    return node


def worded_schema(schema: Mapping[str, Any]) -> dict[str, Any]:
    """``schema`` (a form's JSON schema) with choices in words and optional fields without "None"."""
    worded: dict[str, Any] = _rewrite(copy.deepcopy(dict(schema)))
    return worded


def form_values(schema: Mapping[str, Any], answer: Mapping[str, Any]) -> dict[str, Any]:
    """``answer`` as a worded form expects it: a code given for a choice becomes its words.

    For callers of the resume API that hold codes (the demo, the tests): the server validates an
    answer against the form's schema, whose choices are words.
    """
    definitions = {**schema.get("definitions", {}), **schema.get("$defs", {})}

    def resolved(prop: Mapping[str, Any]) -> Mapping[str, Any]:
        for ref in [prop.get("$ref"), *(p.get("$ref") for p in prop.get("allOf", []) if isinstance(p, dict))]:
            if ref:
                found: Mapping[str, Any] = definitions.get(ref.rsplit("/", 1)[-1], prop)
                return found
        return prop

    converted = dict(answer)
    for name, prop in schema.get("properties", {}).items():
        enum = resolved(prop).get("enum")
        value = converted.get(name)
        if isinstance(value, str) and enum and value not in enum and word_for(value) in enum:
            converted[name] = word_for(value)
    return converted


# --- open-a-case: the enterprises and sites of the programmes ------------------------------------------

_ID_IN_LABEL = re.compile(r"\(([a-z0-9][a-z0-9-]*)\)$")


def enterprise_label(programme: Programme) -> str:
    """How the form names an enterprise: "Northwind Apparel Ltd (northwind-apparel)"."""
    return f"{programme.name} ({programme.enterprise_id})"


def site_label(programme: Programme, site_id: str) -> str:
    """How the form names a site: "Northwind Apparel Ltd: Gazipur knitwear factory, BD (dhaka-knit-01)"."""
    site = programme.site(site_id)
    return f"{programme.name}: {site.name}, {site.country} ({site_id})"


def id_from_label(value: str) -> str:
    """The id a label ends with in brackets; a bare id (from the API) as it is."""
    found = _ID_IN_LABEL.search(value.strip())
    return found.group(1) if found else value.strip()


def programme_choices(programmes: Iterable[Programme]) -> tuple[list[str], list[str]]:
    """(enterprise labels, site labels) of ``programmes``, sorted as a person looks them up."""
    ordered = sorted(programmes, key=lambda p: p.name.lower())
    enterprises = [enterprise_label(p) for p in ordered]
    sites = [site_label(p, site_id) for p in ordered for site_id in sorted(p.sites)]
    return enterprises, sites


def with_enterprise_choices(schema: Mapping[str, Any], enterprises: list[str]) -> dict[str, Any]:
    """``schema`` (a flow's parameters) with its top-level enterprise_id offered as ``enterprises``.

    With no programme yet, the field stays free text rather than an empty list nobody can pick from.
    """
    result = copy.deepcopy(dict(schema))
    prop = result["properties"]["enterprise_id"]
    for constraint in ("pattern", "examples", "minLength", "maxLength", "enum"):
        prop.pop(constraint, None)
    if enterprises:
        prop["enum"] = list(enterprises)
    return result


def with_programme_choices(
    schema: Mapping[str, Any], model: str, enterprises: list[str], sites: list[str]
) -> dict[str, Any]:
    """``schema`` with the ``model`` definition's enterprise_id and site_id offered as choices.

    With no programme yet, the fields stay free text rather than an empty list nobody can pick from.
    """
    result = copy.deepcopy(dict(schema))
    for key in ("definitions", "$defs"):
        definition = result.get(key, {}).get(model)
        if definition is None:
            continue
        for field, choices in (("enterprise_id", enterprises), ("site_id", sites)):
            prop = definition["properties"][field]
            for constraint in ("pattern", "examples", "minLength", "maxLength", "enum"):
                prop.pop(constraint, None)
            if choices:
                prop["enum"] = list(choices)
    return result
