"""Forms read as words: choices, optional fields, and open-a-case's enterprises and sites."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from remediation_flows.core.choices import (
    form_values,
    id_from_label,
    programme_choices,
    with_programme_choices,
    word_for,
)


def test_codes_read_as_words():
    assert word_for("grievance_channel") == "Grievance channel"
    assert word_for("supplier_self_report") == "Supplier self-report"
    assert word_for("child_labourer").startswith("Child labourer")
    assert word_for("school_records") == "School records"


def test_the_assessment_form_offers_words_and_takes_words_or_codes():
    from remediation_flows.flows.remediation.answers import OnSiteAssessmentAnswer

    schema = OnSiteAssessmentAnswer.model_json_schema()
    outcomes = schema["$defs"]["AssessmentOutcome"]["enum"]
    assert "child_labourer" not in outcomes and word_for("child_labourer") in outcomes
    given = dict(
        answered_by="rahim",
        age_years=13,
        removed_from_work=True,
        safe_place=True,
        child_consent=True,
        guardian_consent=True,
    )
    by_words = OnSiteAssessmentAnswer(
        **given, age_verification="School records", outcome=word_for("child_labourer")
    )
    by_codes = OnSiteAssessmentAnswer(**given, age_verification="school_records", outcome="child_labourer")
    assert by_words.outcome == by_codes.outcome == "child_labourer"
    with pytest.raises(ValidationError):
        OnSiteAssessmentAnswer(**given, age_verification="school_records", outcome="Child")


def test_optional_fields_have_no_none_side():
    from remediation_flows.flows.remediation.answers import ApprovalAnswer, OnSiteAssessmentAnswer

    schema = ApprovalAnswer.model_json_schema()
    comment = schema["properties"]["comment"]
    assert "anyOf" not in comment and comment["type"] == "string" and "default" not in comment
    assert "comment" not in schema.get("required", [])
    sex = OnSiteAssessmentAnswer.model_json_schema()["properties"]["sex"]
    assert sex["allOf"] == [{"$ref": "#/$defs/ChildSex"}] and sex["title"] == "Sex"
    assert "null" not in str(OnSiteAssessmentAnswer.model_json_schema())


def test_an_api_answer_in_codes_is_given_as_the_form_expects():
    from remediation_flows.flows.forms import resume_input
    from remediation_flows.flows.remediation.answers import PlanProposalAnswer

    schema = PlanProposalAnswer.model_json_schema()
    sent = resume_input(schema, {"pathway": "schooling", "payer": "ngo", "currency": "BDT", "x": None})
    assert sent == {"pathway": "Schooling", "payer": "The NGO", "currency": "BDT"}
    assert form_values(schema, {"pathway": "Schooling"}) == {"pathway": "Schooling"}


def test_open_a_case_offers_the_programmes_enterprises_and_sites(garment_brand, agro_exporter):
    from prefect.utilities.callables import parameter_schema

    from remediation_flows.flows.form_choices import form_schema
    from remediation_flows.flows.remediation.notification import CaseNotification, open_a_case

    enterprises, sites = programme_choices([garment_brand, agro_exporter])
    schema = form_schema(
        "open-a-case", parameter_schema(open_a_case).model_dump(), [garment_brand, agro_exporter]
    )
    form = schema["definitions"]["CaseNotification"]["properties"]
    assert form["enterprise_id"]["enum"] == enterprises
    assert "Northwind Apparel Ltd (northwind-apparel)" in enterprises
    assert "Northwind Apparel Ltd: Gazipur knitwear factory, BD (dhaka-knit-01)" in form["site_id"]["enum"]
    assert "pattern" not in form["enterprise_id"]
    assert "Grievance channel" in schema["definitions"]["CaseSource"]["enum"]
    assert len(sites) == len(garment_brand.sites) + len(agro_exporter.sites)

    chosen = CaseNotification(
        enterprise_id=enterprises[0],
        site_id=form["site_id"]["enum"][0],
        source="Grievance channel",
        reported_by="li.wen@ngo.example",
    )
    assert chosen.site_id == id_from_label(form["site_id"]["enum"][0])
    assert chosen.source == "grievance_channel"
    api = CaseNotification(
        enterprise_id="northwind-apparel", site_id="dhaka-knit-01", source="audit", reported_by="li"
    )
    assert (api.enterprise_id, api.site_id) == ("northwind-apparel", "dhaka-knit-01")
    with pytest.raises(ValidationError, match="enterprise_id"):
        CaseNotification(enterprise_id="Not An Id", site_id="x", source="audit", reported_by="li")


def test_the_due_diligence_cycle_offers_the_programmes_enterprises(garment_brand, agro_exporter):
    from prefect.exceptions import ParameterTypeError
    from prefect.utilities.callables import parameter_schema

    from remediation_flows.flows.due_diligence.cycle import due_diligence_cycle
    from remediation_flows.flows.form_choices import form_schema

    schema = form_schema(
        "due-diligence-cycle",
        parameter_schema(due_diligence_cycle).model_dump(),
        [garment_brand, agro_exporter],
    )
    enterprise = schema["properties"]["enterprise_id"]
    assert enterprise["enum"] == programme_choices([garment_brand, agro_exporter])[0]
    assert "pattern" not in enterprise
    # The flow takes the form's label, and the id its schedules and API callers give.
    picked = due_diligence_cycle.validate_parameters({"enterprise_id": enterprise["enum"][0]})
    assert picked["enterprise_id"] == "campos-del-pacifico"
    given = due_diligence_cycle.validate_parameters({"enterprise_id": "northwind-apparel"})
    assert given["enterprise_id"] == "northwind-apparel"
    with pytest.raises(ParameterTypeError, match="enterprise_id"):
        due_diligence_cycle.validate_parameters({"enterprise_id": "Not An Id"})


def test_no_programme_leaves_the_fields_free_text():
    schema = {"definitions": {"M": {"properties": {"enterprise_id": {"pattern": "x"}, "site_id": {}}}}}
    fields = with_programme_choices(schema, "M", [], [])["definitions"]["M"]["properties"]
    assert "enum" not in fields["enterprise_id"] and "enum" not in fields["site_id"]


def test_the_schema_prefect_stores_for_the_resume_dialog_is_worded():
    """Prefect saves a suspended run's form with its own generator (create_v2_schema), not
    model_json_schema: the Resume dialog showed codes until that schema was worded too."""
    import json

    from remediation_flows.flows.remediation.answers import OnSiteAssessmentAnswer

    stored = json.dumps(OnSiteAssessmentAnswer.with_initial_data(description="q").form_schema())
    assert "school_records" not in stored and "School records" in stored
    assert '"null"' not in stored
