"""People per site: its own contacts get its cases and tasks, other roles fall back; languages per person."""

from __future__ import annotations

import copy
import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import select

from remediation_flows.core import casework as cw
from remediation_flows.core.config import ConfigInvalid, Role
from remediation_flows.core.config.loader import load_programme_document
from remediation_flows.core.mail.i18n import ENGLISH, text, words
from remediation_flows.core.notices import enqueue_task_mail
from remediation_flows.core.store import repository as repo
from remediation_flows.core.store.schema import OutboxMessage

ACTOR = "li.wen@ngo.example"


def test_a_site_names_its_own_people_and_other_roles_fall_back_to_the_enterprise(garment_brand):
    assert garment_brand.emails_for([Role.ENTERPRISE_FOCAL_POINT], "hcmc-sew-02") == [
        "vn.compliance@northwind-apparel.example"
    ]
    assert garment_brand.emails_for([Role.CASE_MANAGER], "dhaka-knit-01") == ["rahim.uddin@ngo.example"]
    # The site names no program manager: the enterprise's.
    assert garment_brand.emails_for([Role.PROGRAM_MANAGER], "hcmc-sew-02") == ["li.wen@ngo.example"]
    # Without a site, the enterprise's whole list, as before.
    assert len(garment_brand.emails_for([Role.ENTERPRISE_FOCAL_POINT])) == 2


def test_a_language_per_contact_falls_back_to_the_site_then_the_enterprise(garment_brand, agro_exporter):
    assert agro_exporter.language_of("director@ngo.example", "sinaloa-culiacan") == "en"  # her own
    assert (
        agro_exporter.language_of("pedro.gomez@centro-mx.example", "sinaloa-culiacan") == "es"
    )  # enterprise's
    document = copy.deepcopy(garment_brand.document)
    document["sites"][1]["language"] = "zh"
    document["sites"][1]["contacts"]["case_manager"][0]["language"] = "en"
    programme = load_programme_document(document, "garment_brand (languages)")
    assert programme.language_of("vn.compliance@northwind-apparel.example", "hcmc-sew-02") == "zh"  # site's
    assert programme.language_of("an.nguyen@ngo.example", "hcmc-sew-02") == "en"  # own
    assert (
        programme.language_of("compliance@northwind-apparel.example", "dhaka-knit-01") == "en"
    )  # enterprise's


def test_a_programme_without_site_contacts_still_loads_and_a_bad_one_is_refused(garment_brand):
    document = copy.deepcopy(garment_brand.document)
    for site in document["sites"]:
        site.pop("contacts")
    plain = load_programme_document(document, "garment_brand (no site contacts)")
    assert plain.emails_for([Role.ENTERPRISE_FOCAL_POINT], "hcmc-sew-02") == plain.emails_for(
        [Role.ENTERPRISE_FOCAL_POINT]
    )
    document["sites"][0]["contacts"] = {"janitor": [{"name": "X", "email": "x@example.org"}]}
    document["sites"][1]["language"] = "fr"  # French: no catalog
    with pytest.raises(ConfigInvalid) as refused:
        load_programme_document(document, "bad.yaml")
    problems = "\n".join(str(problem) for problem in refused.value.problems)
    assert "$.sites[0].contacts" in problems and "janitor" in problems
    assert "$.sites[1].language" in problems


def _to_reintegration(store, programme, site_id: str) -> str:
    notification = cw.Notification(
        enterprise_id=programme.enterprise_id,
        site_id=site_id,
        notified_at=dt.datetime.now(dt.UTC),
        source=cw.Source.AUDIT,
        suspected_age=13,
    )
    reference = cw.open_case(store, programme, notification, actor=ACTOR).reference
    cw.record_assessment(
        store,
        reference,
        cw.AssessmentReport(
            age_years=13,
            age_verification=cw.AgeVerification.BIRTH_CERTIFICATE,
            outcome=cw.AssessmentOutcome.CHILD_LABOURER,
            removed_from_work=True,
            safe_place=True,
            child_consent=True,
            guardian_consent=True,
        ),
        actor=ACTOR,
    )
    view = cw.propose_plan(
        store,
        reference,
        cw.PlanProposal(
            pathway=cw.Pathway.SCHOOLING,
            monthly_stipend=Decimal("8000"),
            currency="BDT",
            school_fees=Decimal("0"),
            payer=cw.Payer.SUPPLIER,
        ),
        ACTOR,
    )
    for role in list(view.pending_approvals):
        # An approval is given by the person who holds the role at the site.
        approver = programme.emails_for([Role(role)], site_id)[0]
        view = cw.decide_plan(store, reference, role, True, approver)
    assert view.state == "school_reintegration"
    return reference


def test_per_site_contacts_receive_their_sites_tasks_only(store, garment_brand):
    # (case manager, focal point) of each site.
    expected = {
        "dhaka-knit-01": ("rahim.uddin@ngo.example", "compliance@northwind-apparel.example"),
        "hcmc-sew-02": ("an.nguyen@ngo.example", "vn.compliance@northwind-apparel.example"),
    }
    references = {site: _to_reintegration(store, garment_brand, site) for site in expected}
    with store.transaction() as session:
        for site, reference in references.items():
            case_manager, focal_point = expected[site]
            case = repo.get_case(session, reference)
            assert case.case_manager == case_manager  # the site's, not the enterprise's first
            mails = session.scalars(select(OutboxMessage).where(OutboxMessage.case_id == case.id)).all()
            [other_site] = set(expected) - {site}
            for mail in mails:
                assert not set(mail.recipients) & set(expected[other_site]), (site, mail.subject)
            # The reintegration task is the enterprise's: its site's focal point, alone.
            [reintegration] = [m for m in mails if m.kind == "task" and "School reintegration" in m.subject]
            assert reintegration.recipients == [focal_point]


def test_a_task_goes_out_once_per_language_its_readers_read(store, agro_exporter):
    with store.transaction() as session:
        repo.register_programme(session, agro_exporter, actor="setup")
    with store.transaction() as session:
        case = repo.open_case(
            session,
            agro_exporter,
            site_id="sinaloa-culiacan",
            notified_at=dt.datetime(2026, 12, 1, 15, tzinfo=dt.UTC),
            source="audit",
            actor="pm",
        )
        milestone, _ = repo.add_milestone(
            session,
            agro_exporter,
            key=f"{case.reference}/r1/closure",
            site_id="sinaloa-culiacan",
            step="closure",
            title="closure",
            due_at=dt.datetime(2026, 12, 15, 6, tzinfo=dt.UTC),
            actor="pm",
            case=case,
        )
        enqueue_task_mail(
            session,
            agro_exporter,
            milestone,
            [Role.CASE_MANAGER, Role.DIRECTOR],
            text("instr.closure"),
            reference=case.reference,
            contact_role=Role.PROGRAM_MANAGER,
            case_id=case.id,
        )
    with store.transaction() as session:
        spanish, english = session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).all()
        assert spanish.recipients == ["pedro.gomez@centro-mx.example"] and "Tarea" in spanish.subject
        assert english.recipients == ["director@ngo.example"] and "Task" in english.subject
        # The instructions too are in each reader's language, not worded once in the enterprise's.
        assert words("es")["instr.closure"] in spanish.body_text
        assert ENGLISH["instr.closure"] in english.body_text
        assert words("es")["instr.closure"] not in english.body_text
        assert spanish.message_id != english.message_id
