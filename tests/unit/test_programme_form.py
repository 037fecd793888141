"""The programme block's form of numbered slots: exact round trips, overflow, edits, old blocks, errors."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from pydantic import ValidationError

from remediation_flows.blocks import EnterpriseProgramme
from remediation_flows.blocks.programme_form import MORE, form_fields, form_schema, from_form, to_form
from remediation_flows.core.config import ConfigInvalid
from remediation_flows.core.config.loader import parse_yaml
from tests.conftest import EXAMPLES

EXAMPLE_FILES = sorted(EXAMPLES.glob("*.yaml"))


def example(name: str = "garment_brand.yaml") -> dict[str, Any]:
    return parse_yaml((EXAMPLES / name).read_text(encoding="utf-8"), name)


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda path: path.name)
def test_every_example_goes_through_the_form_and_back_unchanged(path):
    document = example(path.name)
    form = to_form(document)
    assert from_form(form) == document
    # The examples fit their slots: nothing needed More.
    assert MORE not in form
    block = EnterpriseProgramme(programme=document)
    assert block.programme_document() == document
    assert (
        block.to_programme().fingerprint == EnterpriseProgramme(programme=document).to_programme().fingerprint
    )


def test_the_form_reads_as_words():
    form = to_form(example())
    site = form["sites"]["site_1"]
    assert site["kind"] == "Factory" and site["working_week"][0] == "Saturday"
    assert site["contact_2"] == {
        "role": "Case manager",
        "name": "Rahim Uddin",
        "email": "rahim.uddin@ngo.example",
    }
    assert form["enterprise"]["language"] == "English"
    step = form["remediation"]["steps"]["remediation_plan"]
    assert step["deadline"] == {"amount": 14, "unit": "Calendar days"}
    assert step["approval"] == ["Supervisor", "Enterprise focal point"]
    assert form["remediation"]["monitoring"]["until_minimum_working_age"] == "Yes"
    schema = form_schema()
    site_fields = schema["sites"]["properties"]["site_2"]["properties"]
    assert site_fields["name"]["title"] == "Site 2 name"
    assert site_fields["kind"]["enum"] == ["Factory", "Farm", "Workshop", "Community", "Other"]
    person = schema["contacts"]["properties"]["enterprise_focal_point_1"]["properties"]
    assert person["email"]["title"] == "Enterprise focal point 1 email"
    assert "Spanish" in person["language"]["enum"]
    level = schema["escalation_ladders"]["properties"]["ladder_3"]["properties"]["level_5"]["properties"]
    assert level["notify"]["items"]["enum"][-1] == "Director"


def test_every_choice_has_its_own_words_and_they_read_back_as_the_code():
    from remediation_flows.blocks.programme_form import _choice_word, _code_for
    from remediation_flows.core.config.loader import PROGRAMME_SCHEMA, load_schema

    def enums(node: Any) -> list[list[str]]:
        if isinstance(node, dict):
            found = [node["enum"]] if isinstance(node.get("enum"), list) else []
            return found + [enum for child in node.values() for enum in enums(child)]
        return [enum for child in node for enum in enums(child)] if isinstance(node, list) else []

    every = enums(load_schema(PROGRAMME_SCHEMA))
    assert len(every) == 7  # sector, regime, role, language, kind, weekday, unit
    for enum in every:
        words = [_choice_word(code) for code in enum]
        assert len(set(words)) == len(enum), words
        assert [_code_for(enum, word) for word in words] == enum


def _renders_as_json(schema: dict[str, Any], where: str) -> list[str]:
    """The places Prefect 3.8.8's form would show as a raw JSON input, other than the More fields."""
    found = []
    if schema.get("type") == "array" and "enum" not in schema.get("items", {}):
        found.append(where)
    if (
        schema.get("type") == "object"
        and "properties" not in schema
        and not schema["title"].endswith("(JSON)")
    ):
        found.append(where)
    for name, child in schema.get("properties", {}).items():
        found += _renders_as_json(child, f"{where}.{name}")
    return found


def test_no_part_of_the_form_but_more_is_a_json_input():
    schema = EnterpriseProgramme.model_json_schema()
    assert list(schema["properties"]) == form_fields()
    assert [field for name, field in schema["properties"].items() if _renders_as_json(field, name)] == []


def test_what_the_slots_cannot_hold_goes_to_more_and_comes_back():
    document = example()
    sites = document["sites"]
    for number in range(3, 11):  # ten sites: two beyond the eight slots
        sites.append({**copy.deepcopy(sites[1]), "id": f"extra-site-{number:02d}", "name": f"Site {number}"})
    first_site = sites[0]
    first_site["closure_days"] += [
        {"from": f"2027-0{month}-01", "reason": f"Closure {month}"} for month in (5, 6, 7)
    ]  # four closures: one beyond the three slots
    for number in range(3, 7):  # six case managers: two beyond the four slots
        document["contacts"]["case_manager"].append(
            {"name": f"Manager {number}", "email": f"cm{number}@ngo.example"}
        )
    document["escalation_ladders"]["slow"] = [
        {"name": f"level-{n}", "offset_working_days": n, "notify": ["director"]} for n in range(7)
    ]  # a ladder of seven levels
    document["escalation_ladders"]["fourth"] = [
        {"name": "due", "offset_working_days": 0, "notify": ["director"]}
    ]
    document["remediation"]["steps"]["closure"]["escalation"] = [
        {"name": "due", "offset_working_days": 0, "notify": ["director"]}
    ]  # a ladder written inside a step
    document["due_diligence"]["legal_regimes"] = []  # present and empty

    form = to_form(document)
    assert from_form(form) == document
    more = form[MORE]
    assert [site["id"] for site in more["sites"]] == ["extra-site-09", "extra-site-10"]
    assert [person["name"] for person in more["contacts"]["case_manager"]] == ["Manager 5", "Manager 6"]
    assert [level["name"] for level in more["escalation_ladders"]["slow"]] == ["level-5", "level-6"]
    assert more["escalation_ladders"]["fourth"][0]["name"] == "due"
    assert more["remediation"]["steps"]["closure"]["escalation"][0]["notify"] == ["director"]
    assert more["due_diligence"]["legal_regimes"] == []
    assert form["sites"]["site_1"][MORE] == {"closure_days": [{"from": "2027-07-01", "reason": "Closure 7"}]}
    assert form["sites"]["site_8"]["id"] == "extra-site-08"
    # The block keeps it all, and the programme is still valid.
    assert EnterpriseProgramme(programme=document).to_programme().sites.keys() >= {"extra-site-10"}


def test_a_slot_edited_changes_the_document_and_an_emptied_one_is_left_out():
    form = to_form(example())
    form["sites"]["site_2"]["name"] = "Binh Duong sewing unit (new building)"
    form["sites"]["site_2"]["contact_1"]["role"] = "Supervisor"
    form["remediation"]["steps"]["closure"]["deadline"]["unit"] = "Calendar days"
    form["remediation"]["monitoring"]["until_minimum_working_age"] = "No"
    form["contacts"]["case_manager_2"] = {"name": "", "email": None}  # cleared on the page
    form["sites"]["site_3"] = {"name": "", "id": None}
    document = from_form(form)
    assert document["sites"][1]["name"] == "Binh Duong sewing unit (new building)"
    assert list(document["sites"][1]["contacts"]) == ["supervisor", "case_manager"]
    assert document["remediation"]["steps"]["closure"]["deadline"] == {"amount": 10, "unit": "calendar_days"}
    assert document["remediation"]["monitoring"]["until_minimum_working_age"] is False
    assert [person["name"] for person in document["contacts"]["case_manager"]] == ["Rahim Uddin"]
    assert len(document["sites"]) == 2
    block = EnterpriseProgramme(**form)
    assert block.to_programme().site("hcmc-sew-02").name == "Binh Duong sewing unit (new building)"


def test_a_block_saved_by_an_older_version_still_loads():
    document = example("mexican_agro_exporter.yaml")
    # As Prefect hands a stored block back: its data, the whole document under `programme`.
    block = EnterpriseProgramme.model_validate({"programme": document})
    assert block.to_programme().enterprise_id == "campos-del-pacifico"
    assert block.programme_document() == document
    from remediation_flows.blocks.enterprise_programme import programme_from_block_data

    assert (
        programme_from_block_data({"programme": document}, "x").fingerprint
        == block.to_programme().fingerprint
    )
    broken = copy.deepcopy(document)
    broken["sites"][0]["time_zone"] = "Mars/Olympus"
    with pytest.raises(ConfigInvalid) as caught:
        programme_from_block_data({"programme": broken}, "block enterprise-programme/old")
    assert [str(p) for p in caught.value.problems] == [
        "block enterprise-programme/old: $.sites[0].time_zone: unknown time zone 'Mars/Olympus' "
        "(use an IANA name such as Asia/Dhaka)"
    ]


def test_an_invalid_edit_gets_the_clis_message_naming_the_field():
    form = to_form(example())
    form["sites"]["site_2"]["time_zone"] = "Asia/Nowhere"
    form["escalation_ladders"]["ladder_1"]["level_2"]["offset_working_days"] = -5
    with pytest.raises(ValidationError) as caught:
        EnterpriseProgramme(**form)
    text = str(caught.value)
    assert (
        "block enterprise-programme/northwind-apparel: $.sites[1].time_zone: "
        "unknown time zone 'Asia/Nowhere' (use an IANA name such as Asia/Dhaka) "
        "(Blocks page field: Site 2 time zone)"
    ) in text
    assert (
        "$.escalation_ladders.default[1].offset_working_days: ladder offsets must increase: -5 follows -2 "
        "(Blocks page field: Ladder 1 level 2 offset (working days))"
    ) in text
    form = to_form(example())
    form["sites"]["site_1"]["contact_2"]["email"] = "rahim.uddin"
    with pytest.raises(ValidationError) as caught:
        EnterpriseProgramme(**form)
    assert "$.sites[0].contacts.case_manager[0].email: " in str(caught.value)
    assert "(Blocks page field: Site 1 contact 2 email)" in str(caught.value)


def test_a_form_that_cannot_be_read_is_refused_naming_its_field():
    form = to_form(example())
    form[MORE] = "[1, 2"
    with pytest.raises(ValidationError) as caught:
        EnterpriseProgramme(**form)
    assert "block enterprise-programme/northwind-apparel: Blocks page field More (JSON): is not JSON" in str(
        caught.value
    )
    form = to_form(example())
    form["escalation_ladders"]["ladder_3"] = {
        "name": "",
        "level_1": {"name": "due", "offset_working_days": 0},
    }
    with pytest.raises(ValidationError) as caught:
        EnterpriseProgramme(**form)
    assert "Blocks page field Ladder 3 name: is empty, but the rest of Ladder 3 is filled in" in str(
        caught.value
    )
    form = to_form(example())
    form["escalation_ladders"]["ladder_2"]["name"] = "default"
    with pytest.raises(ValidationError) as caught:
        EnterpriseProgramme(**form)
    assert "Blocks page field Ladder 2 name: 'default' is also Ladder 1's" in str(caught.value)
