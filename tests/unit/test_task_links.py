"""Personal task links on SQLite and PostgreSQL: issued with their email, used once, refused in words."""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import re
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from remediation_flows.core import casework as cw
from remediation_flows.core import task_links as tl
from remediation_flows.core.config.loader import load_programme_document, parse_yaml
from remediation_flows.core.config.model import Person, Role
from remediation_flows.core.store import repository as repo
from remediation_flows.core.store.schema import Approval, AuditEvent, OutboxMessage, TaskLink
from tests.conftest import EXAMPLES

CASE_MANAGER = "rahim.uddin@ngo.example"
SUPERVISOR = "chen.jing@ngo.example"
FOCAL_POINT = "compliance@northwind-apparel.example"
SECOND_FOCAL_POINT = "vn.compliance@northwind-apparel.example"
LINK = re.compile(r"https?://[^/\s]+/tasks/(CL-\d{4}-\d{6})/([a-z_]+)/([A-Za-z0-9_-]+)")


@pytest.fixture(scope="module")
def garment_brand():
    """The garment brand with two focal points at its Dhaka site: each gets a link of their own."""
    document = parse_yaml((EXAMPLES / "garment_brand.yaml").read_text(encoding="utf-8"), "garment_brand.yaml")
    dhaka = next(site for site in document["sites"] if site["id"] == "dhaka-knit-01")
    dhaka["contacts"]["enterprise_focal_point"].append({"name": "Tran Thi Mai", "email": SECOND_FOCAL_POINT})
    return load_programme_document(document, "garment_brand.yaml")


def assessed_case(store, programme) -> str:
    """A Dhaka case whose on-site assessment found a 13-year-old in child labour, removed from work."""
    notification = cw.Notification(
        enterprise_id=programme.enterprise_id,
        site_id="dhaka-knit-01",
        notified_at=dt.datetime.now(dt.UTC),
        source=cw.Source.AUDIT,
    )
    reference = cw.open_case(store, programme, notification, actor=CASE_MANAGER).reference
    cw.record_assessment(
        store,
        reference,
        cw.AssessmentReport(
            age_years=13,
            age_verification=cw.AgeVerification.SCHOOL_RECORDS,
            outcome=cw.AssessmentOutcome.CHILD_LABOURER,
            removed_from_work=True,
            safe_place=True,
            child_consent=True,
            guardian_consent=True,
        ),
        actor=CASE_MANAGER,
    )
    return reference


def case_awaiting_plan_approval(store, programme) -> str:
    reference = assessed_case(store, programme)
    cw.propose_plan(
        store,
        reference,
        cw.PlanProposal(cw.Pathway.SCHOOLING, Decimal("8000"), "BDT", Decimal("1500"), cw.Payer.SUPPLIER),
        CASE_MANAGER,
    )
    return reference


def links_in_mail(store, reference: str, step: str | None = None) -> dict[str, str]:
    """The personal link in each single-recipient email about the case, by recipient.

    Only ``step``'s links when given; else every step's but the monthly payments', which run beside
    the lifecycle's tasks.
    """
    found = {}
    with store.transaction() as session:
        for message in session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)):
            match = LINK.search(message.body_text)
            wanted = (
                match.group(2) == step if match and step else match and match.group(2) != "stipend_payment"
            )
            if match and match.group(1) == reference and wanted:
                assert len(message.recipients) == 1, "a personal link goes to its recipient alone"
                found[message.recipients[0]] = match.group(0)
    return found


def token_of(url: str) -> str:
    match = LINK.search(url)
    assert match is not None
    return match.group(3)


def snapshot(store) -> tuple:
    """Everything a refused link must leave as it was."""
    with store.transaction() as session:
        return (
            session.scalar(select(func.count()).select_from(OutboxMessage)),
            session.scalar(select(func.count()).select_from(AuditEvent)),
            tuple(
                session.execute(select(TaskLink.id, TaskLink.state, TaskLink.answer).order_by(TaskLink.id))
            ),
            tuple(session.execute(select(Approval.id, Approval.status).order_by(Approval.id))),
        )


def test_each_approver_gets_a_message_of_their_own_with_a_link_bound_to_their_role(store, garment_brand):
    reference = case_awaiting_plan_approval(store, garment_brand)
    links = links_in_mail(store, reference)
    assert set(links) == {SUPERVISOR, FOCAL_POINT, SECOND_FOCAL_POINT}
    plan_id = cw.case_view(store, reference).plan_id
    with store.transaction() as session:
        rows = {row.recipient: row for row in session.scalars(select(TaskLink))}
        milestone = repo.get_milestone(session, f"{reference}/r1/remediation_plan")
        for recipient, url in links.items():
            token = token_of(url)
            assert len(token) >= 22, "at least 128 bits"
            row = rows[recipient]
            # Only the hash is kept: the token itself is nowhere in the store.
            assert row.token_sha256 == tl.hash_token(token) != token
            assert row.state == "issued" and row.step == "remediation_plan"
            assert row.expires_at == milestone.due_at + dt.timedelta(days=14)
        assert rows[SUPERVISOR].role == "supervisor"
        assert rows[FOCAL_POINT].role == rows[SECOND_FOCAL_POINT].role == "enterprise_focal_point"
        assert {row.subject for row in rows.values()} == {f"plan {plan_id}"}
        stored = " ".join(
            str(value) for row in session.execute(select(TaskLink)).scalars() for value in vars(row).values()
        ) + " ".join(str(event.details) for event in session.scalars(select(AuditEvent)))
        assert not any(token_of(url) in stored for url in links.values())


def test_a_link_opens_its_task_and_is_spent_once_with_the_answer_it_carried(store, garment_brand):
    reference = case_awaiting_plan_approval(store, garment_brand)
    token = token_of(links_in_mail(store, reference)[FOCAL_POINT])
    task = tl.read_link(store, token, reference, "remediation_plan")
    assert (task.case_reference, task.role, task.recipient) == (
        reference,
        "enterprise_focal_point",
        FOCAL_POINT,
    )
    delivered = []
    tl.use_link(
        store,
        token,
        reference,
        "remediation_plan",
        answered_key="key-1",
        answer={"approved": True},
        deliver=delivered.append,
    )
    assert [t.link_id for t in delivered] == [task.link_id]
    verified = tl.verified_answer(store, "key-1")
    assert verified is not None
    assert (verified.recipient, verified.role, verified.answer) == (
        FOCAL_POINT,
        "enterprise_focal_point",
        {"approved": True},
    )
    assert tl.verified_answer(store, "key-2") is None
    before = snapshot(store)
    with pytest.raises(tl.LinkGone, match="already used"):
        tl.read_link(store, token, reference, "remediation_plan")
    with pytest.raises(tl.LinkGone, match="already used"):
        tl.use_link(
            store, token, reference, "remediation_plan", answered_key="k", answer={}, deliver=delivered.append
        )
    assert snapshot(store) == before and len(delivered) == 1


def test_a_failed_delivery_leaves_the_link_unused_and_records_nothing(store, garment_brand):
    reference = case_awaiting_plan_approval(store, garment_brand)
    token = token_of(links_in_mail(store, reference)[SUPERVISOR])
    before = snapshot(store)

    def flow_run_not_waiting(task: tl.LinkTask) -> None:
        raise RuntimeError("the run is not suspended")

    with pytest.raises(RuntimeError):
        tl.use_link(
            store,
            token,
            reference,
            "remediation_plan",
            answered_key="k",
            answer={"approved": True},
            deliver=flow_run_not_waiting,
        )
    assert snapshot(store) == before
    assert tl.read_link(store, token, reference, "remediation_plan").recipient == SUPERVISOR


def test_forged_expired_and_misdirected_tokens_are_refused_and_change_nothing(store, garment_brand):
    reference = case_awaiting_plan_approval(store, garment_brand)
    token = token_of(links_in_mail(store, reference)[SUPERVISOR])
    task = tl.read_link(store, token, reference, "remediation_plan")
    before = snapshot(store)
    with pytest.raises(tl.UnknownLink):
        tl.read_link(store, token[:-1] + ("A" if token[-1] != "A" else "B"), reference, "remediation_plan")
    with pytest.raises(tl.WrongTask):
        tl.read_link(store, token, reference, "closure")
    with pytest.raises(tl.WrongTask):
        tl.read_link(store, token, "CL-1999-000001", "remediation_plan")
    with pytest.raises(tl.LinkGone, match="expired"):
        tl.read_link(store, token, reference, "remediation_plan", now=task.expires_at)
    with pytest.raises(tl.LinkGone, match="expired"):
        tl.use_link(
            store,
            token,
            reference,
            "remediation_plan",
            answered_key="k",
            answer={},
            deliver=lambda task: None,
            now=task.expires_at + dt.timedelta(seconds=1),
        )
    assert snapshot(store) == before


def test_an_approval_given_by_another_route_voids_the_links_for_that_role(store, garment_brand):
    reference = case_awaiting_plan_approval(store, garment_brand)
    links = links_in_mail(store, reference)
    cw.decide_plan(store, reference, "enterprise_focal_point", True, FOCAL_POINT)
    for recipient in (FOCAL_POINT, SECOND_FOCAL_POINT):
        with pytest.raises(tl.LinkGone, match="another route"):
            tl.read_link(store, token_of(links[recipient]), reference, "remediation_plan")
    assert (
        tl.read_link(store, token_of(links[SUPERVISOR]), reference, "remediation_plan").role == "supervisor"
    )
    with store.transaction() as session:
        voided = session.scalars(select(AuditEvent).where(AuditEvent.action == "task_link_voided")).all()
        assert {event.details["recipient"] for event in voided} == {FOCAL_POINT, SECOND_FOCAL_POINT}


def test_reassigning_or_withdrawing_the_case_voids_its_links(store, garment_brand):
    reference = case_awaiting_plan_approval(store, garment_brand)
    links = links_in_mail(store, reference)
    cw.reassign_case(store, reference, "an.nguyen@ngo.example", "li.wen@ngo.example", "Rahim is on leave")
    with pytest.raises(tl.LinkGone, match="reassigned"):
        tl.read_link(store, token_of(links[SUPERVISOR]), reference, "remediation_plan")

    second = case_awaiting_plan_approval(store, garment_brand)
    links = links_in_mail(store, second)
    cw.withdraw_case(store, second, "li.wen@ngo.example", "duplicate of another case")
    with pytest.raises(tl.LinkGone, match="no longer works"):
        tl.read_link(store, token_of(links[SUPERVISOR]), second, "remediation_plan")


def test_a_person_the_programme_no_longer_lists_cannot_use_their_link(store, garment_brand):
    reference = case_awaiting_plan_approval(store, garment_brand)
    token = token_of(links_in_mail(store, reference)[SECOND_FOCAL_POINT])
    document = copy.deepcopy(garment_brand.document)
    only_farzana = [{"name": "Farzana Hoque", "email": FOCAL_POINT}]
    document["contacts"]["enterprise_focal_point"] = only_farzana
    for site in document["sites"]:
        if site["id"] == "dhaka-knit-01":
            site["contacts"]["enterprise_focal_point"] = only_farzana
    without_her = load_programme_document(document, "garment without the second focal point")
    assert without_her.people_for(Role.ENTERPRISE_FOCAL_POINT, "dhaka-knit-01") == (
        Person("Farzana Hoque", FOCAL_POINT),
    )
    with store.transaction() as session:
        repo.register_programme(session, without_her, actor="li.wen@ngo.example")
    before = snapshot(store)
    with pytest.raises(tl.LinkGone, match="no longer lists you"):
        tl.read_link(store, token, reference, "remediation_plan")
    assert snapshot(store) == before


def test_a_reissued_link_replaces_the_old_one_and_is_emailed_to_that_person_alone(store, garment_brand):
    reference = case_awaiting_plan_approval(store, garment_brand)
    old = token_of(links_in_mail(store, reference)[SUPERVISOR])
    issued = tl.reissue_link(
        store, reference, "remediation_plan", SUPERVISOR, actor=CASE_MANAGER, reason="lost the email"
    )
    with pytest.raises(tl.LinkGone, match="replaced by a new link"):
        tl.read_link(store, old, reference, "remediation_plan")
    new = token_of(links_in_mail(store, reference)[SUPERVISOR])
    assert new == token_of(issued.url) != old
    task = tl.read_link(store, new, reference, "remediation_plan")
    assert (task.role, task.recipient) == ("supervisor", SUPERVISOR)
    with pytest.raises(tl.NotFound):
        tl.reissue_link(store, reference, "remediation_plan", "someone@else.example", actor="x", reason="y")
    views = tl.links_of(store, reference)
    assert [v.state for v in views if v.recipient == SUPERVISOR] == ["void", "issued"]
    assert all(not hasattr(view, "token") for view in views)
    assert "url" not in {f.name for f in dataclasses.fields(tl.LinkView)}


def test_the_enterprise_focal_points_get_links_for_school_reintegration(store, garment_brand):
    reference = case_awaiting_plan_approval(store, garment_brand)
    cw.decide_plan(store, reference, "supervisor", True, SUPERVISOR)
    cw.decide_plan(store, reference, "enterprise_focal_point", True, FOCAL_POINT)
    with store.transaction() as session:
        reintegration = session.scalars(
            select(TaskLink).where(TaskLink.step == "school_reintegration", TaskLink.state == "issued")
        ).all()
    assert {(link.recipient, link.role, link.subject) for link in reintegration} == {
        (FOCAL_POINT, "enterprise_focal_point", ""),
        (SECOND_FOCAL_POINT, "enterprise_focal_point", ""),
    }


def test_remediate_task_link_reissue_and_list(store, garment_brand, capsys):
    from remediation_flows.cli import main

    reference = case_awaiting_plan_approval(store, garment_brand)
    old = token_of(links_in_mail(store, reference)[FOCAL_POINT])
    assert (
        main(
            [
                *("task-link", "reissue", reference, "--step", "remediation_plan"),
                *("--to", FOCAL_POINT, "--by", CASE_MANAGER, "--reason", "the email went to spam"),
                *("--url", store.url),
            ]
        )
        == 0
    )
    new = token_of(links_in_mail(store, reference)[FOCAL_POINT])
    printed = capsys.readouterr().out
    assert f"new remediation_plan link for {FOCAL_POINT}" in printed
    assert new not in printed and new != old
    with pytest.raises(tl.LinkGone):
        tl.read_link(store, old, reference, "remediation_plan")
    assert main(["task-link", "list", reference, "--url", store.url]) == 0
    listed = capsys.readouterr().out.splitlines()
    focal = [line for line in listed if f" {FOCAL_POINT}  until" in line]
    assert [line.split()[1] for line in focal] == ["void", "issued"]
    assert "replaced by a new link" in focal[0] and new not in "".join(listed)
    assert (
        main(
            [
                "task-link",
                "reissue",
                reference,
                "--step",
                "closure",
                "--to",
                FOCAL_POINT,
                "--by",
                "x",
                "--reason",
                "y",
                "--url",
                store.url,
            ]
        )
        == 2
    )
    assert "no open 'closure' task" in capsys.readouterr().err
