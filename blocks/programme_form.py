"""The enterprise programme as a form of numbered slots, which Prefect 3.8.8's Blocks page can render.

The UI of Prefect 3.8.8 (prefect-ui-library's schema form) renders an array of objects (sites, people,
ladder levels) and an object without ``properties`` (contacts by role, ladders by name) as one raw JSON
input, so the programme schema alone gives a form of JSON boxes. This module lays the programme out as
objects with fixed properties instead: ``site_1`` … ``site_8`` with the site's fields, people per role
``case_manager_1`` … ``case_manager_4``, ladders ``ladder_1`` … ``ladder_3`` of ``level_1`` …
``level_5``, every step by its name, choices as enums of words, yes/no for booleans.

Whatever the slots cannot hold (a ninth site, a fifth person of a role, a ladder written inside a step,
an empty list, a key the schema does not know) goes into a "More (JSON)" field, a part of the
document merged back in as it is (lists appended, mappings merged), so nothing is ever lost: for every
document, ``from_form(to_form(document)) == document``. A site's own overflow (a fourth closure, a
fifth contact) goes into that site's "more" field. Empty slots and empty fields are left out when
converting back, so a person clears a slot by emptying its fields.

The layout is derived from schemas/enterprise_programme.schema.json itself, so a field added to the
schema appears in the form; only how many slots a list gets, and what its slots are called, is
said here (:data:`SLOTS`).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from remediation_flows.core.choices import word_for
from remediation_flows.core.config.loader import (
    PROGRAMME_SCHEMA,
    ConfigInvalid,
    ConfigProblem,
    load_schema,
)

#: The overflow field: at the top of the form, and in each site slot for that site alone.
MORE = "more"
MORE_TITLE = "More (JSON)"
FORM_SOURCE = "<programme form>"


@dataclass(frozen=True)
class Slots:
    """How a list (or a mapping) of the programme is laid out as numbered slots."""

    #: The stem of the slots' keys and titles: ``site`` gives ``site_1`` titled "Site 1".
    stem: str
    count: int
    #: For a mapping: the slot's property holding the entry's key (a ladder's name, a contact's role).
    key: str | None = None
    #: For a mapping of single values: the slot's property holding the value.
    value: str | None = None
    #: For a mapping of lists: one slot per item, each naming its key (contacts of a site: role and
    #: person), instead of one slot per key holding numbered items (a ladder and its levels).
    flatten: bool = False


#: Slots by the path of property names to the list or mapping; any other list gets three.
SLOTS: dict[tuple[str, ...], Slots] = {
    ("sites",): Slots("site", 8),
    ("sites", "closure_days"): Slots("closure", 3),
    ("sites", "contacts"): Slots("contact", 4, key="role", flatten=True),
    ("escalation_ladders",): Slots("ladder", 3, key="name"),
    ("escalation_ladders", "*"): Slots("level", 5),
    ("minimum_working_age",): Slots("minimum_age", 3, key="country", value="age"),
    ("remediation", "monitoring", "follow_up_offsets"): Slots("follow_up", 6),
    ("due_diligence", "legal_regimes"): Slots("legal_regime", 3),
}
PEOPLE_PER_ROLE = 4
DEFAULT_SLOT_COUNT = 3
SITES = ("sites",)

#: Objects that only group fields: their fields' titles do not repeat the group's name.
GROUPS = {
    ("contacts",),
    ("remediation",),
    ("remediation", "steps"),
    ("remediation", "monitoring"),
    ("remediation", "stipends"),
    ("retention",),
    ("due_diligence",),
    ("due_diligence", "steps"),
}

#: Words in titles where the property's name, its underscores made spaces, would not read well.
TITLE_WORDS = {
    "id": "ID",
    "on_site_assessment": "On-site assessment",
    "follow_up_visit": "Follow-up visit",
    "follow_up": "Follow-up",
    "young_worker_protection": "Young-worker protection",
    "time_zone": "Time zone",
    "minimum_age": "Minimum age",
    "offset_working_days": "Offset (working days)",
    "financial_year_end": "Financial year end (MM-DD)",
    "identity_months": "Identity kept (months)",
}

#: Words for codes the choices of the form show, beyond :func:`word_for`'s.
CHOICE_WORDS = {
    "en": "English",
    "es": "Spanish",
    "zh": "Simplified Chinese",
    "bn": "Bengali",
    "km": "Khmer",
    "ar": "Arabic",
    "hi": "Hindi",
    "id": "Indonesian",
    "lo": "Lao",
    "my": "Burmese",
    "tr": "Turkish",
    "vi": "Vietnamese",
    "mon": "Monday",
    "tue": "Tuesday",
    "wed": "Wednesday",
    "thu": "Thursday",
    "fri": "Friday",
    "sat": "Saturday",
    "sun": "Sunday",
    "de_lksg": "Germany's Supply Chain Act (LkSG)",
    "eu_csddd": "EU Corporate Sustainability Due Diligence Directive (CSDDD)",
    "uk_modern_slavery_act": "UK Modern Slavery Act",
}
YES, NO = "Yes", "No"


class _Missing:
    """No value: a field the form cannot hold, or an empty one."""


MISSING = _Missing()


def _choice_word(code: str) -> str:
    return CHOICE_WORDS.get(code) or word_for(code)


def _code_for(enum: list[Any], value: Any) -> Any:
    """The code among ``enum`` whose word ``value`` is (or ``value`` itself, a code or not)."""
    for code in enum:
        if value == _choice_word(code):
            return code
    return value


def _definitions() -> dict[str, Any]:
    definitions: dict[str, Any] = load_schema(PROGRAMME_SCHEMA).get("$defs", {})
    return definitions


def _resolved(node: Any) -> dict[str, Any]:
    """``node`` with its ``$ref`` written out (the referring node's own keys win)."""
    while isinstance(node, dict) and isinstance(node.get("$ref"), str):
        target = _definitions()[node["$ref"].rsplit("/", 1)[-1]]
        node = {**target, **{key: value for key, value in node.items() if key != "$ref"}}
    return node if isinstance(node, dict) else {}


def _kind(node: Mapping[str, Any]) -> str:
    if "oneOf" in node or "anyOf" in node:
        return "name_or_more"  # a step's escalation: a ladder's name here, a ladder written out in More
    kind = node.get("type")
    if kind == "object":
        return "object" if "properties" in node else "map"
    if kind == "array":
        return "choices" if "enum" in _resolved(node.get("items")) else "list"
    return "scalar"


def _slots(path: tuple[str, ...]) -> Slots:
    if path in SLOTS:
        return SLOTS[path]
    if len(path) == 2 and path[0] == "contacts":
        return Slots(path[1], PEOPLE_PER_ROLE)
    return Slots(path[-1], DEFAULT_SLOT_COUNT)


def _title(prefix: str, name: str, number: int | None = None) -> str:
    word = TITLE_WORDS.get(name) or word_for(name)
    if prefix:
        word = word if word.isupper() or word[:2].isupper() else word[0].lower() + word[1:]
        word = f"{prefix} {word}"
    return word if number is None else f"{word} {number}"


def _is_empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


def _merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``extra`` merged in: mappings merged, lists appended, any other value set."""
    for key, value in extra.items():
        if isinstance(base.get(key), dict) and isinstance(value, dict):
            _merge(base[key], value)
        elif isinstance(base.get(key), list) and isinstance(value, list):
            base[key] = base[key] + copy.deepcopy(value)
        else:
            base[key] = copy.deepcopy(value)
    return base


# The form's JSON Schema ---------------------------------------------------------------------------


def _scalar_schema(node: Mapping[str, Any], title: str, name: str) -> dict[str, Any]:
    schema: dict[str, Any] = {"title": title}
    if isinstance(node.get("description"), str):
        schema["description"] = node["description"]
    if node.get("type") == "boolean":
        return schema | {"type": "string", "enum": [YES, NO]}
    if "enum" in node:
        return schema | {"type": "string", "enum": [_choice_word(code) for code in node["enum"]]}
    # No time-zone enum: its 600 names in each of the eight site slots made the schema, which Prefect
    # sends with every read of a block (each step of a case reads one), three times as large.
    # No pattern nor length: an emptied field would stop the page from saving; the whole programme
    # is checked, with the CLI's messages, whenever the block is loaded.
    return schema | {"type": node.get("type", "string")}


def _object_schema(node: Mapping[str, Any], path: tuple[str, ...], prefix: str) -> dict[str, Any]:
    properties: dict[str, Any] = {}
    for name, child in node.get("properties", {}).items():
        _add_property_schema(properties, name, _resolved(child), (*path, name), prefix)
    if path == SITES:
        properties[MORE] = {
            "title": f"{prefix} more (JSON)",
            "type": "object",
            "description": "Anything of this site beyond its slots (a fourth closure, a fifth contact), "
            "as in the programme file; merged into the site.",
        }
    return {"type": "object", "properties": properties}


def _item_schema(item: Mapping[str, Any], path: tuple[str, ...], title: str) -> dict[str, Any]:
    if _kind(item) == "object":
        return {"title": title, **_object_schema(item, path, title)}
    return _scalar_schema(item, title, path[-1])


def _described_once(schema: dict[str, Any], number: int) -> dict[str, Any]:
    """Slot ``number``'s schema; the descriptions only in the first slot, which a person reads first.

    Repeated in every slot they made the schema, which Prefect sends with every read of a block
    (each step of a case reads one), twice as large.
    """
    if number == 1:
        return schema
    without = {key: value for key, value in schema.items() if key != "description"}
    if isinstance(schema.get("properties"), dict):
        without["properties"] = {
            name: _described_once(child, number) for name, child in schema["properties"].items()
        }
    return without


def _add_property_schema(
    properties: dict[str, Any], name: str, node: Mapping[str, Any], path: tuple[str, ...], prefix: str
) -> None:
    kind, title = _kind(node), _title(prefix, name)
    if kind == "list":
        slots, item = _slots(path), _resolved(node.get("items"))
        for number in range(1, slots.count + 1):
            slot_title = _title(prefix, slots.stem, number)
            properties[f"{slots.stem}_{number}"] = _described_once(
                _item_schema(item, path, slot_title), number
            )
    elif kind == "map":
        slots, value = _slots(path), _resolved(node.get("additionalProperties"))
        key_node = _resolved(node.get("propertyNames", {"type": "string"}))
        for number in range(1, slots.count + 1):
            slot_title = _title(prefix, slots.stem, number)
            slot: dict[str, Any] = {
                slots.key or "key": _scalar_schema(key_node, _title(slot_title, slots.key or "key"), "")
            }
            if _kind(value) == "list" and slots.flatten:
                slot |= _object_schema(_resolved(value.get("items")), (*path, "*"), slot_title)["properties"]
            elif _kind(value) == "list":
                _add_property_schema(slot, "*", value, (*path, "*"), slot_title)
            else:
                value_name = slots.value or "value"
                slot[value_name] = _scalar_schema(value, _title(slot_title, value_name), value_name)
            properties[f"{slots.stem}_{number}"] = _described_once(
                {"title": slot_title, "type": "object", "properties": slot}, number
            )
    elif kind == "object":
        schema = _object_schema(node, path, "" if path in GROUPS else title)
        if isinstance(node.get("description"), str):
            schema["description"] = node["description"]
        properties[name] = {"title": title, **schema}
    elif kind == "choices":
        items = _resolved(node.get("items"))
        schema = {"title": title, "type": "array", "items": _scalar_schema(items, title, "")}
        schema["items"].pop("title")
        if isinstance(node.get("description"), str):
            schema["description"] = node["description"]
        properties[name] = schema
    elif kind == "name_or_more":
        properties[name] = {
            "title": title,
            "type": "string",
            "description": "The name of a ladder of Escalation ladders (a ladder written out goes in More).",
        }
    else:
        properties[name] = _scalar_schema(node, title, name)


@cache
def _form_schema() -> dict[str, Any]:
    programme = load_schema(PROGRAMME_SCHEMA)
    groups: dict[str, Any] = {}
    for name, child in programme["properties"].items():
        node, fields = _resolved(child), {}
        _add_property_schema(fields, name, node, (name,), "")
        if _kind(node) == "object":
            groups[name] = fields[name]
            continue
        # A list or mapping at the top (sites, ladders) is a group of its slots.
        groups[name] = {"title": _title("", name), "type": "object", "properties": fields}
        if isinstance(node.get("description"), str):
            groups[name]["description"] = node["description"]
    groups[MORE] = {
        "title": MORE_TITLE,
        "type": "object",
        "description": "Anything beyond the slots above (a ninth site, a fifth person of a role, a ladder "
        "written inside a step), as in the programme file; merged in: lists appended, mappings merged.",
    }
    return groups


def form_schema() -> dict[str, dict[str, Any]]:
    """The JSON Schema of each top-level field of the form (``enterprise``, ``sites``, … ``more``)."""
    return copy.deepcopy(_form_schema())


def form_fields() -> list[str]:
    """The form's top-level fields, in the programme schema's order, the overflow last."""
    return list(_form_schema())


# Document to form ---------------------------------------------------------------------------------


def _scalar_to_form(node: Mapping[str, Any], value: Any, name: str) -> Any:
    if _is_empty(value):
        return MISSING
    if node.get("type") == "boolean":
        return YES if value is True else NO if value is False else MISSING
    if "enum" in node:
        return _choice_word(value) if isinstance(value, str) and value in node["enum"] else MISSING
    if node.get("type") == "integer":
        return value if isinstance(value, int) and not isinstance(value, bool) else MISSING
    return value if isinstance(value, str) else MISSING


def _item_to_form(item: Mapping[str, Any], value: Any, path: tuple[str, ...]) -> tuple[Any, dict[str, Any]]:
    """A list item as a slot, and what of it the slot cannot hold."""
    if _kind(item) == "object":
        if not isinstance(value, dict) or not value:
            return MISSING, {}
        return _object_to_form(item, value, path)
    return _scalar_to_form(item, value, path[-1]), {}


def _object_to_form(
    node: Mapping[str, Any], value: Mapping[str, Any], path: tuple[str, ...]
) -> tuple[dict[str, Any], dict[str, Any]]:
    form: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    properties = node.get("properties", {})
    for name, child in value.items():
        if name not in properties:
            extra[name] = copy.deepcopy(child)
        else:
            _property_to_form(form, extra, name, _resolved(properties[name]), child, (*path, name))
    return form, extra


def _property_to_form(
    form: dict[str, Any],
    extra: dict[str, Any],
    name: str,
    node: Mapping[str, Any],
    value: Any,
    path: tuple[str, ...],
) -> None:
    """Put ``value`` into ``form``'s fields for property ``name``; what they cannot hold into ``extra``."""
    kind = _kind(node)
    if _is_empty(value):
        extra[name] = copy.deepcopy(value)  # present but empty: the form cannot say so
    elif kind == "object":
        if not isinstance(value, dict):
            extra[name] = copy.deepcopy(value)
            return
        inner, inner_extra = _object_to_form(node, value, path)
        form[name] = inner
        if inner_extra:
            extra[name] = inner_extra
    elif kind == "list":
        _list_to_form(form, extra, name, node, value, path)
    elif kind == "map":
        _map_to_form(form, extra, name, node, value, path)
    elif kind == "choices":
        enum = _resolved(node.get("items")).get("enum", [])
        if isinstance(value, list) and all(isinstance(code, str) and code in enum for code in value):
            form[name] = [_choice_word(code) for code in value]
        else:
            extra[name] = copy.deepcopy(value)
    elif kind == "name_or_more":
        if isinstance(value, str):
            form[name] = value
        else:
            extra[name] = copy.deepcopy(value)
    else:
        shown = _scalar_to_form(node, value, name)
        if shown is MISSING:
            extra[name] = copy.deepcopy(value)
        else:
            form[name] = shown


def _list_to_form(
    form: dict[str, Any],
    extra: dict[str, Any],
    name: str,
    node: Mapping[str, Any],
    value: Any,
    path: tuple[str, ...],
) -> None:
    if not isinstance(value, list):
        extra[name] = copy.deepcopy(value)
        return
    slots, item = _slots(path), _resolved(node.get("items"))
    for index, entry in enumerate(value):
        if index < slots.count:
            shown, rest = _item_to_form(item, entry, path)
            if shown is not MISSING and path == SITES:
                if rest:
                    shown[MORE] = rest
                form[f"{slots.stem}_{index + 1}"] = shown
                continue
            if shown is not MISSING and not rest:
                form[f"{slots.stem}_{index + 1}"] = shown
                continue
        # From the first item the slots cannot hold on, the rest is appended from More, in order.
        extra[name] = copy.deepcopy(value[index:])
        return


def _map_to_form(
    form: dict[str, Any],
    extra: dict[str, Any],
    name: str,
    node: Mapping[str, Any],
    value: Any,
    path: tuple[str, ...],
) -> None:
    if not isinstance(value, dict):
        extra[name] = copy.deepcopy(value)
        return
    slots, value_node = _slots(path), _resolved(node.get("additionalProperties"))
    key_node = _resolved(node.get("propertyNames", {"type": "string"}))
    key_name = slots.key or "key"
    rest: dict[str, Any] = {}
    used = 0
    for key, entry in value.items():
        shown_key = _scalar_to_form(key_node, key, "")
        if used >= slots.count or shown_key is MISSING:
            rest[key] = copy.deepcopy(entry)
            continue
        if _kind(value_node) != "list":
            shown = _scalar_to_form(value_node, entry, slots.value or "value")
            if shown is MISSING:
                rest[key] = copy.deepcopy(entry)
            else:
                used += 1
                form[f"{slots.stem}_{used}"] = {key_name: shown_key, slots.value or "value": shown}
            continue
        if not isinstance(entry, list) or not entry:
            rest[key] = copy.deepcopy(entry)
            continue
        item, item_path = _resolved(value_node.get("items")), (*path, "*")
        if slots.flatten:
            for index, one in enumerate(entry):
                shown, leftover = _item_to_form(item, one, item_path)
                if used >= slots.count or shown is MISSING or leftover:
                    rest[key] = copy.deepcopy(entry[index:])
                    break
                used += 1
                form[f"{slots.stem}_{used}"] = {key_name: shown_key, **shown}
        else:
            used += 1
            slot: dict[str, Any] = {key_name: shown_key}
            leftover_items: dict[str, Any] = {}
            _list_to_form(slot, leftover_items, "*", value_node, entry, item_path)
            form[f"{slots.stem}_{used}"] = slot
            if leftover_items:
                rest[key] = leftover_items["*"]
    if rest:
        extra[name] = rest


def to_form(document: Mapping[str, Any]) -> dict[str, Any]:
    """The programme ``document`` as the block's form: its top-level fields and their slots."""
    if not isinstance(document, Mapping):
        raise TypeError(f"a programme document is a mapping; found {type(document).__name__}")
    programme = load_schema(PROGRAMME_SCHEMA)
    properties = programme["properties"]
    form: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for name, child in document.items():
        if name not in properties:
            extra[name] = copy.deepcopy(child)
            continue
        node = _resolved(properties[name])
        if _kind(node) == "object" or _is_empty(child):
            _property_to_form(form, extra, name, node, child, (name,))
        else:
            slots: dict[str, Any] = {}
            _property_to_form(slots, extra, name, node, child, (name,))
            form[name] = slots
    if extra:
        form[MORE] = extra
    return form


# Form to document ---------------------------------------------------------------------------------


class _Reader:
    """Reads a form back into a document, noting which form field each part of it came from."""

    def __init__(self, source: str) -> None:
        self.source = source
        #: Document path (as the CLI's messages write it) → the title of the form field it came from.
        self.fields: dict[str, str] = {}

    def refuse(self, title: str, message: str) -> ConfigInvalid:
        return ConfigInvalid([ConfigProblem(self.source, title, message)])

    def scalar(self, node: Mapping[str, Any], value: Any, name: str) -> Any:
        if _is_empty(value):
            return MISSING
        if node.get("type") == "boolean":
            return True if value == YES else False if value == NO else value
        if "enum" in node:
            return _code_for(node["enum"], value)
        return value

    def more(self, value: Any, title: str) -> dict[str, Any]:
        """An overflow field's value: a mapping, or JSON text of one."""
        if _is_empty(value):
            return {}
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except json.JSONDecodeError as error:
                raise self.refuse(title, f"is not JSON: {error}") from None
        if not isinstance(value, dict):
            raise self.refuse(
                title, f"must be a mapping of parts of the programme, as in its file; found {value!r:.80}"
            )
        return value

    def item(self, item: Mapping[str, Any], value: Any, path: tuple[str, ...], at: str, title: str) -> Any:
        if _kind(item) == "object":
            if not isinstance(value, dict):
                return MISSING
            read = self.object(item, value, path, at, title)
            if path == SITES:
                read = _merge(read, self.more(value.get(MORE), f"{title} more (JSON)"))
            return read if read else MISSING
        return self.scalar(item, value, path[-1])

    def object(
        self, node: Mapping[str, Any], form: Mapping[str, Any], path: tuple[str, ...], at: str, prefix: str
    ) -> dict[str, Any]:
        document: dict[str, Any] = {}
        for name, child in node.get("properties", {}).items():
            self.property(document, form, name, _resolved(child), (*path, name), at, prefix)
        return document

    def property(
        self,
        document: dict[str, Any],
        form: Mapping[str, Any],
        name: str,
        node: Mapping[str, Any],
        path: tuple[str, ...],
        at: str,
        prefix: str,
    ) -> None:
        """Read property ``name`` of the object at document path ``at`` from its fields in ``form``."""
        kind, title, here = _kind(node), _title(prefix, name), f"{at}.{name}"
        if kind == "list":
            items = self.slots_of_list(form, node, path, here, prefix)
            if items:
                document[name] = items
        elif kind == "map":
            read = self.slots_of_map(form, node, path, here, prefix)
            if read:
                document[name] = read
        elif kind == "object":
            value = form.get(name)
            if isinstance(value, dict):
                read = self.object(node, value, path, here, "" if path in GROUPS else title)
                if read:
                    document[name] = read
        elif kind == "choices":
            value = form.get(name)
            if isinstance(value, list) and value:
                enum = _resolved(node.get("items")).get("enum", [])
                document[name] = [_code_for(enum, choice) for choice in value]
        else:
            value = self.scalar(node, form.get(name), name)
            if value is not MISSING:
                document[name] = value
        if name in document:
            self.fields.setdefault(here, title)

    def slots_of_list(
        self, form: Mapping[str, Any], node: Mapping[str, Any], path: tuple[str, ...], here: str, prefix: str
    ) -> list[Any]:
        slots, item = _slots(path), _resolved(node.get("items"))
        items: list[Any] = []
        for number in range(1, slots.count + 1):
            title = _title(prefix, slots.stem, number)
            at = f"{here}[{len(items)}]"
            read = self.item(item, form.get(f"{slots.stem}_{number}"), path, at, title)
            if read is not MISSING:
                self.fields[at] = title
                items.append(read)
        return items

    def slots_of_map(
        self, form: Mapping[str, Any], node: Mapping[str, Any], path: tuple[str, ...], here: str, prefix: str
    ) -> dict[str, Any]:
        slots, value_node = _slots(path), _resolved(node.get("additionalProperties"))
        key_node = _resolved(node.get("propertyNames", {"type": "string"}))
        key_name = slots.key or "key"
        read: dict[str, Any] = {}
        named_by: dict[str, str] = {}
        for number in range(1, slots.count + 1):
            title = _title(prefix, slots.stem, number)
            slot = form.get(f"{slots.stem}_{number}")
            if not isinstance(slot, dict) or all(_is_empty(v) for v in slot.values()):
                continue
            key = self.scalar(key_node, slot.get(key_name), key_name)
            if key is MISSING or not isinstance(key, str):
                raise self.refuse(_title(title, key_name), f"is empty, but the rest of {title} is filled in")
            at = f"{here}.{key}"
            if _kind(value_node) != "list":
                value_name = slots.value or "value"
                value = self.scalar(value_node, slot.get(value_name), value_name)
                self._check_unique(key, named_by, title, key_name)
                if value is not MISSING:
                    read[key] = value
                    self.fields[at] = _title(title, value_name)
            elif slots.flatten:
                item_at = f"{at}[{len(read.get(key, []))}]"
                person = self.object(_resolved(value_node.get("items")), slot, (*path, "*"), item_at, title)
                if person:
                    self.fields.setdefault(at, title)
                    self.fields[item_at] = title
                    read.setdefault(key, []).append(person)
            else:
                self._check_unique(key, named_by, title, key_name)
                self.fields[at] = title
                read[key] = self.slots_of_list(slot, value_node, (*path, "*"), at, title)
        return read

    def _check_unique(self, key: str, named_by: dict[str, str], title: str, key_name: str) -> None:
        if key in named_by:
            raise self.refuse(_title(title, key_name), f"'{key}' is also {named_by[key]}'s")
        named_by[key] = title


def _read(form: Mapping[str, Any], source: str) -> tuple[dict[str, Any], dict[str, str]]:
    if not isinstance(form, Mapping):
        raise ConfigInvalid([ConfigProblem(source, "$", f"a form is a mapping; found {type(form).__name__}")])
    reader = _Reader(source)
    programme = load_schema(PROGRAMME_SCHEMA)
    document: dict[str, Any] = {}
    for name, child in programme["properties"].items():
        node, group = _resolved(child), form.get(name)
        if not isinstance(group, dict):
            continue
        if _kind(node) == "object":
            reader.property(document, form, name, node, (name,), "$", "")
        else:
            reader.property(document, group, name, node, (name,), "$", "")
    document = _merge(document, reader.more(form.get(MORE), MORE_TITLE))
    return document, reader.fields


def from_form(form: Mapping[str, Any], source: str = FORM_SOURCE) -> dict[str, Any]:
    """The programme document the form holds: its slots, empty ones left out, and More merged in.

    Raises :class:`ConfigInvalid` naming the form's field when the form cannot be read (More that is
    not a mapping, a ladder slot without a name); the document itself is not validated here.
    """
    return _read(form, source)[0]


def from_form_with_fields(
    form: Mapping[str, Any], source: str = FORM_SOURCE
) -> tuple[dict[str, Any], Callable[[str], str | None]]:
    """:func:`from_form`, and a function giving the form field's title for a path in the document."""
    document, fields = _read(form, source)

    def field_for(path: str) -> str | None:
        while path:
            if path in fields:
                return fields[path]
            cut = max(path.rfind("."), path.rfind("["))
            path = path[:cut] if cut > 0 else ""
        return None

    return document, field_for
