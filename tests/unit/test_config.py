"""Programme configuration: the schema, the cross-field rules, and `remediate config validate`."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from remediation_flows.cli import main
from remediation_flows.core.config import ConfigInvalid, Role, load_programme_document
from remediation_flows.core.config.loader import parse_yaml
from tests.conftest import EXAMPLES

GARMENT_YAML = (EXAMPLES / "garment_brand.yaml").read_text(encoding="utf-8")


def garment_document() -> dict[str, Any]:
    return copy.deepcopy(parse_yaml(GARMENT_YAML, "garment"))


def problems_of(document: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(ConfigInvalid) as caught:
        load_programme_document(document, "doc.yaml")
    return [(p.path, p.message) for p in caught.value.problems]


def test_examples_load_with_national_default_ages(garment_brand, agro_exporter):
    assert garment_brand.minimum_working_age == {"BD": 14, "VN": 15}
    assert agro_exporter.minimum_working_age == {"MX": 15}
    assert garment_brand.step("remediation_plan").approval == (Role.SUPERVISOR, Role.ENTERPRISE_FOCAL_POINT)
    assert [level.offset_working_days for level in garment_brand.step("closure").ladder] == [-2, 0, 3, 7]
    assert garment_brand.emails_for([Role.CASE_MANAGER]) == [
        "rahim.uddin@ngo.example",
        "an.nguyen@ngo.example",
    ]


def test_schema_errors_are_all_reported_with_path_and_rule():
    document = garment_document()
    document["sites"][0]["time_zone"] = 7
    document["remediation"]["steps"]["on_site_assessment"]["deadline"]["unit"] = "fortnights"
    del document["enterprise"]["language"]
    found = problems_of(document)
    assert ("$.enterprise", "'language' is a required property (rule: required)") in found
    assert ("$.sites[0].time_zone", "7 is not of type 'string' (rule: type)") in found
    assert any(
        path == "$.remediation.steps.on_site_assessment.deadline.unit" and "(rule: enum)" in message
        for path, message in found
    )
    assert len(found) == 3


def test_ladder_role_without_contact():
    document = garment_document()
    del document["contacts"]["director"]
    found = problems_of(document)
    assert (
        "$.escalation_ladders.default[3].notify[0]",
        "role 'director' has no contact under $.contacts",
    ) in found
    assert (
        "$.escalation_ladders.urgent[2].notify[0]",
        "role 'director' has no contact under $.contacts",
    ) in found


def test_site_in_country_without_minimum_age():
    document = garment_document()
    document["sites"][1]["country"] = "TH"
    document["sites"][1]["time_zone"] = "Asia/Bangkok"
    found = problems_of(document)
    assert found == [
        ("$.sites[1].country", "no minimum working age for country 'TH': add it under $.minimum_working_age")
    ]
    document["minimum_working_age"] = {"TH": 15}
    assert load_programme_document(document).minimum_working_age["TH"] == 15


def test_ladder_offsets_out_of_order():
    document = garment_document()
    document["escalation_ladders"]["default"][2]["offset_working_days"] = 0
    found = problems_of(document)
    assert found == [
        ("$.escalation_ladders.default[2].offset_working_days", "ladder offsets must increase: 0 follows 0")
    ]


def test_unknown_time_zone():
    document = garment_document()
    document["sites"][0]["time_zone"] = "Asia/Dacca_Typo"
    assert problems_of(document) == [
        ("$.sites[0].time_zone", "unknown time zone 'Asia/Dacca_Typo' (use an IANA name such as Asia/Dhaka)")
    ]


def test_duplicate_site_ids():
    document = garment_document()
    document["sites"][1]["id"] = document["sites"][0]["id"]
    assert problems_of(document) == [
        ("$.sites[1].id", "duplicate site id 'dhaka-knit-01' (first at $.sites[0])")
    ]


def test_unknown_ladder_name_and_step_owner_without_contact():
    document = garment_document()
    document["remediation"]["steps"]["closure"]["escalation"] = "nonexistent"
    document["due_diligence"]["steps"]["training"]["owner"] = "supervisor"
    del document["contacts"]["supervisor"]
    found = problems_of(document)
    assert (
        "$.remediation.steps.closure.escalation",
        "no escalation ladder named 'nonexistent' under $.escalation_ladders",
    ) in found
    assert (
        "$.due_diligence.steps.training.owner",
        "role 'supervisor' has no contact under $.contacts",
    ) in found


def test_closure_days_must_be_real_and_in_order():
    document = garment_document()
    document["sites"][0]["closure_days"] = [
        {"from": "2027-02-30", "reason": "typo"},
        {"from": "2027-03-10", "to": "2027-03-01", "reason": "backwards"},
    ]
    found = problems_of(document)
    assert ("$.sites[0].closure_days[0].from", "'2027-02-30' is not a calendar date") in found
    assert (
        "$.sites[0].closure_days[1].to",
        "closure ends (2027-03-01) before it starts (2027-03-10)",
    ) in found


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_cli_validate_valid_files_exit_zero(capsys):
    assert (
        main(
            [
                "config",
                "validate",
                str(EXAMPLES / "garment_brand.yaml"),
                str(EXAMPLES / "mexican_agro_exporter.yaml"),
            ]
        )
        == 0
    )
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    assert "valid: enterprise northwind-apparel" in lines[0]
    assert "valid: enterprise campos-del-pacifico" in lines[1]


def test_cli_validate_reports_each_error_as_file_path_message(tmp_path, capsys):
    document = garment_document()
    document["sites"][0]["time_zone"] = "Mars/Olympus"
    del document["contacts"]["director"]
    bad = write(tmp_path, "bad.yaml", yaml.safe_dump(document, allow_unicode=True))
    good = EXAMPLES / "garment_brand.yaml"
    assert main(["config", "validate", str(good), str(bad)]) == 2
    captured = capsys.readouterr()
    errors = captured.err.splitlines()
    assert (
        f"{bad}: $.sites[0].time_zone: unknown time zone 'Mars/Olympus' (use an IANA name such as Asia/Dhaka)"
        in errors
    )
    assert all(line.startswith(f"{bad}: $.") for line in errors)
    assert len(errors) == 3  # the time zone and two ladders naming the director
    assert "valid" in captured.out


def test_cli_validate_unparsable_yaml_is_an_error_line_not_a_traceback(tmp_path, capsys):
    bad = write(tmp_path, "broken.yaml", "enterprise:\n  id: x\n  name: [unclosed\n")
    assert main(["config", "validate", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"{bad}: $: YAML does not parse at line ")
    assert "Traceback" not in err


def test_cli_validate_missing_file(tmp_path, capsys):
    assert main(["config", "validate", str(tmp_path / "absent.yaml")]) == 2
    assert "cannot read file" in capsys.readouterr().err


def test_dates_stay_text_so_the_schema_sees_what_was_written():
    document = parse_yaml("d: 2026-12-31\n", "x")
    assert document == {"d": "2026-12-31"}
