"""Blocks validate what they hold, without a server: the same messages as the CLI."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from remediation_flows.blocks import CaseStoreConnection, EnterpriseProgramme, MailTransport
from remediation_flows.core.config.loader import parse_yaml
from tests.conftest import EXAMPLES


def document() -> dict:
    return parse_yaml((EXAMPLES / "garment_brand.yaml").read_text(encoding="utf-8"), "x")


def test_programme_block_accepts_a_valid_document_and_gives_the_typed_programme():
    block = EnterpriseProgramme(programme=document())
    assert block.to_programme().enterprise_id == "northwind-apparel"


def test_programme_block_refuses_an_invalid_document_with_every_problem():
    bad = document()
    bad["sites"][0]["time_zone"] = "Mars/Olympus"
    del bad["contacts"]["director"]
    with pytest.raises(ValidationError) as caught:
        EnterpriseProgramme(programme=bad)
    text = str(caught.value)
    assert (
        "block enterprise-programme/northwind-apparel: $.sites[0].time_zone: unknown time zone 'Mars/Olympus'"
        in text
    )
    assert (
        "$.escalation_ladders.default[3].notify[0]: role 'director' has no contact under $.contacts" in text
    )


def test_secrets_are_secret():
    mail = MailTransport(host="smtp.example.org", sender="r@ngo.example", password="hunter2")
    assert "hunter2" not in repr(mail) and mail.settings().password == "hunter2"
    store = CaseStoreConnection(url="postgresql+psycopg://u:pw@db/remediation")
    assert "pw@" not in repr(store)
