"""The task page on SQLite and PostgreSQL: what it shows, what it accepts, and every refusal changing nothing.

An answer is applied in the case store within the request (state, audit and outbox in the link's
transaction); the waiting run is a recorder here (no Prefect server in unit tests), resumed after
the commit. The integration test tests/integration/test_task_links_flow.py resumes a real suspended
run through a real email's link and checks that it does not apply the answer again.
"""

from __future__ import annotations

import concurrent.futures
import copy
import datetime as dt
import hashlib
import re
import threading
import time

import pytest
from fastapi.testclient import TestClient
from markupsafe import escape
from sqlalchemy import select, update

from remediation_flows.core import casework as cw
from remediation_flows.core import evidence as ev
from remediation_flows.core import task_links as tl
from remediation_flows.core.config import load_programme_document
from remediation_flows.core.mail.i18n import ENGLISH, words
from remediation_flows.core.mail.render import format_instant
from remediation_flows.core.store.schema import (
    Approval,
    AuditEvent,
    Case,
    EvidenceFile,
    OutboxMessage,
    TaskLink,
)
from remediation_flows.flows.prompts import input_key
from remediation_flows.flows.remediation.stages import prompt_key, question_for
from remediation_flows.task_page.app import CSRF_COOKIE, TaskPage, WaitingRun, create_app
from tests.unit.test_task_links import (
    FOCAL_POINT,
    SECOND_FOCAL_POINT,
    SUPERVISOR,
    case_awaiting_plan_approval,
    garment_brand,  # noqa: F401, F811  (the fixture: two focal points at the Dhaka site)
    links_in_mail,
    snapshot,
    token_of,
)

CHILD_NAME = "Shirin Akter Mahmuda"
#: Three tries to resume the run, without the pauses between them.
NO_PAUSE = (0.0, 0.0, 0.0)


class Runs:
    """The case's suspended run as the page finds it, and the answers it was resumed with."""

    def __init__(self, store, reference: str) -> None:
        view = cw.case_view(store, reference)
        self.key = input_key(store, prompt_key(view, question_for(view)))
        self.resumed: list[tuple[str, dict]] = []

    def find(self, reference: str) -> list[WaitingRun]:
        return [WaitingRun("run-1", self.key)]

    def resume(self, run_id, run_input) -> None:
        self.resumed.append((run_id, run_input))


@pytest.fixture
def awaiting(store, garment_brand):  # noqa: F811
    reference = case_awaiting_plan_approval(store, garment_brand)
    cw.identify_child(store, reference, full_name=CHILD_NAME, actor="li.wen@ngo.example")
    runs = Runs(store, reference)
    page = TaskPage(
        store,
        secret=b"test secret",
        token_limit=6,
        find_runs=runs.find,
        resume=runs.resume,
        resume_backoff=NO_PAUSE,
    )
    client = TestClient(create_app(page))
    return store, reference, links_in_mail(store, reference), runs, client


def path(url: str) -> str:
    return re.sub(r"^https?://[^/]+", "", url)


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf" value="([0-9a-f]+)"', html)
    assert match is not None
    return match.group(1)


def test_the_page_shows_the_task_and_the_form_without_identity_fields_or_the_child(awaiting):
    store, reference, links, runs, client = awaiting
    response = client.get(path(links[FOCAL_POINT]))
    assert response.status_code == 200
    html = response.text
    assert reference in html and "Gazipur knitwear factory (dhaka-knit-01)" in html
    assert "Asia/Dhaka" in html, "the due date is in the site's time"
    assert f"<bdi>{FOCAL_POINT}</bdi> (enterprise focal point)" in html
    assert 'name="approved"' in html and 'name="comment"' in html
    for identity_field in ("answered_by", "role", "on_behalf_of", "on_behalf_reason"):
        assert f'name="{identity_field}"' not in html
    assert CHILD_NAME not in html and "Shirin" not in html
    assert response.cookies.get(CSRF_COOKIE) == csrf_of(html)


def test_an_answer_is_applied_as_the_verified_persons_within_the_request_then_resumes_the_run(awaiting):
    store, reference, links, runs, client = awaiting
    page = client.get(path(links[FOCAL_POINT])).text
    response = client.post(
        path(links[FOCAL_POINT]), data={"csrf": csrf_of(page), "approved": "true", "comment": "agreed"}
    )
    assert response.status_code == 200, response.text
    assert f"given by {FOCAL_POINT} (enterprise focal point)" in response.text
    # Applied in the store when the page answers: the supervisor's decision is what the case waits for.
    assert cw.case_view(store, reference).pending_approvals == ["supervisor"]
    assert "The case now waits for:" in response.text and "awaiting: supervisor" in response.text
    with store.transaction() as session:
        approval = session.scalars(
            select(Approval).where(Approval.role == "enterprise_focal_point", Approval.status == "approved")
        ).one()
        assert (approval.decided_for, approval.verified) == (FOCAL_POINT, True)
    [(run_id, run_input)] = runs.resumed
    assert run_id == "run-1"
    # Sent as the Resume dialog sends it: the role in words, the empty optional fields left out.
    assert run_input | {} == {
        "answered_by": FOCAL_POINT,
        "role": "Enterprise focal point",
        "approved": True,
        "comment": "agreed",
    }
    verified = tl.verified_answer(store, runs.key)
    assert verified is not None and (verified.recipient, verified.role) == (
        FOCAL_POINT,
        "enterprise_focal_point",
    )
    assert verified.applied_at is not None, "marked applied, so that the resumed run does not apply it again"
    # The flow compares the answer it receives, as codes, with the one the link recorded.
    from remediation_flows.flows.remediation.answers import ApprovalAnswer

    assert verified.answer == ApprovalAnswer.model_validate(run_input).model_dump(mode="json")


def audit_and_outbox(store, reference: str) -> tuple[list[tuple], list[tuple]]:
    with store.transaction() as session:
        case_id = session.scalars(select(Case.id).where(Case.reference == reference)).one()
        audit = list(
            session.execute(
                select(AuditEvent.action, AuditEvent.actor, AuditEvent.at)
                .where(AuditEvent.case_id == case_id)
                .order_by(AuditEvent.id)
            )
        )
        outbox = list(
            session.execute(
                select(OutboxMessage.kind, OutboxMessage.recipients)
                .where(OutboxMessage.case_id == case_id)
                .order_by(OutboxMessage.id)
            )
        )
    return audit, outbox


def test_the_last_approval_moves_the_case_with_its_audit_and_emails_in_the_links_transaction(awaiting):
    """The step the page applies is the core act the flow would run: state, audit and outbox, one commit."""
    store, reference, links, runs, client = awaiting
    cw.decide_plan(store, reference, "supervisor", True, SUPERVISOR)
    runs.key = Runs(store, reference).key  # the run now waits on the focal point's decision
    audit_before, outbox_before = audit_and_outbox(store, reference)
    url = path(links[FOCAL_POINT])
    response = client.post(url, data={"csrf": csrf_of(client.get(url).text), "approved": "true"})
    assert response.status_code == 200, response.text
    view = cw.case_view(store, reference)
    assert view.state == "school_reintegration"
    [milestone] = [m for m in view.open_milestones if m.step == "school_reintegration"]
    assert "School reintegration: enrolment confirmed" in response.text
    assert str(escape(format_instant(milestone.due_at, "Asia/Dhaka", "en"))) in response.text
    audit, outbox = audit_and_outbox(store, reference)
    added = audit[len(audit_before) :]
    actions = [action for action, _, _ in added]
    assert actions[0] == "task_link_used" and "plan_accepted" in actions and "case_state_changed" in actions
    assert {actor for _, actor, _ in added if actor != "system"} <= {FOCAL_POINT}
    new_mail = outbox[len(outbox_before) :]
    assert new_mail and all(kind == "task" for kind, _ in new_mail)
    # The next step's links went out in the same commit: the focal point's enrolment link is there.
    assert (
        "/school_reintegration/" in links_in_mail(store, reference, step="school_reintegration")[FOCAL_POINT]
    )
    assert len(runs.resumed) == 1


def test_a_failure_mid_apply_leaves_the_link_unused_and_the_store_unchanged(awaiting, monkeypatch):
    """The outbox write fails after the plan was accepted and the case moved: nothing of it stays."""
    from remediation_flows.core.casework import common

    store, reference, links, runs, client = awaiting
    cw.decide_plan(store, reference, "supervisor", True, SUPERVISOR)
    runs.key = Runs(store, reference).key
    url = path(links[FOCAL_POINT])
    csrf = csrf_of(client.get(url).text)

    def outbox_down(*args, **kwargs):
        raise OSError("the outbox table is unavailable")

    monkeypatch.setattr(common, "enqueue_task_mail", outbox_down)
    before = snapshot(store)
    failing = TestClient(client.app, raise_server_exceptions=False)
    failing.cookies.set(CSRF_COOKIE, csrf)
    assert failing.post(url, data={"csrf": csrf, "approved": "true"}).status_code == 500
    assert snapshot(store) == before and runs.resumed == []
    assert cw.case_view(store, reference).state == "remediation_plan"
    assert tl.verified_answer(store, runs.key) is None
    monkeypatch.undo()
    # The same link still works once the outbox is back.
    assert client.post(url, data={"csrf": csrf, "approved": "true"}).status_code == 200
    assert cw.case_view(store, reference).state == "school_reintegration"


def test_two_submits_of_one_link_at_once_apply_it_once(awaiting, monkeypatch):
    """The first holds the case's lock while it applies; the second waits, then finds the link used."""
    from remediation_flows.flows.remediation.stages import Question

    store, reference, links, runs, client = awaiting
    cw.decide_plan(store, reference, "supervisor", True, SUPERVISOR)
    runs.key = Runs(store, reference).key
    url = path(links[FOCAL_POINT])
    csrf = csrf_of(client.get(url).text)
    slow_apply = Question.apply

    def slowly(self, *args, **kwargs):
        time.sleep(0.5)  # long enough for the other submit to reach the lock
        return slow_apply(self, *args, **kwargs)

    monkeypatch.setattr(Question, "apply", slowly)
    audit_before, outbox_before = audit_and_outbox(store, reference)
    start = threading.Barrier(2)

    def submit() -> int:
        start.wait()
        return client.post(url, data={"csrf": csrf, "approved": "true"}).status_code

    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        statuses = sorted(pool.map(lambda _: submit(), range(2)))
    assert statuses == [200, 410]
    audit, outbox = audit_and_outbox(store, reference)
    actions = [action for action, _, _ in audit[len(audit_before) :]]
    assert actions.count("task_link_used") == 1 and actions.count("plan_accepted") == 1
    assert len(runs.resumed) == 1
    assert cw.case_view(store, reference).state == "school_reintegration"
    # One acceptance's emails, each once: no message to the same people about the same step twice.
    with store.transaction() as session:
        added = session.execute(
            select(OutboxMessage.kind, OutboxMessage.milestone_id, OutboxMessage.subject)
            .order_by(OutboxMessage.id)
            .offset(len(outbox_before))
        ).all()
    added_recipients = [tuple(recipients) for _, recipients in outbox[len(outbox_before) :]]
    assert added and len(set(zip(added, added_recipients, strict=True))) == len(added)


def refused(client, store, runs, method: str, url: str, status: int, **kwargs) -> str:
    before = snapshot(store)
    response = client.request(method, url, **kwargs)
    assert response.status_code == status, response.text
    assert snapshot(store) == before and runs.resumed == []
    return response.text


def test_every_refusal_has_its_status_and_changes_nothing(awaiting):
    store, reference, links, runs, client = awaiting
    url = path(links[SUPERVISOR])
    csrf = csrf_of(client.get(url).text)
    good = {"csrf": csrf, "approved": "true"}

    forged = url[:-4] + ("AAAA" if not url.endswith("AAAA") else "BBBB")
    assert "not known" in refused(client, store, runs, "GET", forged, 404)
    assert "not known" in refused(client, store, runs, "POST", forged, 404, data=good)
    other_task = url.replace("/remediation_plan/", "/closure/")
    assert "another task" in refused(client, store, runs, "POST", other_task, 403, data=good)
    assert "anti-forgery" in refused(client, store, runs, "POST", url, 403, data={"approved": "true"})
    assert "anti-forgery" in refused(
        client, store, runs, "POST", url, 403, data={"csrf": "0" * 64, "approved": "true"}
    )
    # A rejection without a reason is malformed: the core's rule, applied before anything is written.
    text = refused(client, store, runs, "POST", url, 422, data={"csrf": csrf})
    assert "a rejection needs a comment" in text and 'name="approved"' in text

    # Expired: the link's date is moved into the past.
    with store.transaction() as session:
        session.execute(
            update(TaskLink)
            .where(TaskLink.token_sha256 == tl.hash_token(token_of(links[FOCAL_POINT])))
            .values(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1))
        )
    assert "expired" in refused(client, store, runs, "POST", path(links[FOCAL_POINT]), 410, data=good)

    # Voided: a new link replaced it.
    tl.reissue_link(
        store, reference, "remediation_plan", SUPERVISOR, actor="li.wen@ngo.example", reason="lost"
    )
    assert "replaced by a new link" in refused(client, store, runs, "POST", url, 410, data=good)


def test_a_used_link_is_gone_and_attempts_are_limited(awaiting):
    store, reference, links, runs, client = awaiting
    url = path(links["vn.compliance@northwind-apparel.example"])
    csrf = csrf_of(client.get(url).text)
    assert client.post(url, data={"csrf": csrf, "approved": "true"}).status_code == 200
    runs.resumed.clear()
    assert "already used" in refused(
        client, store, runs, "POST", url, 410, data={"csrf": csrf, "approved": "true"}
    )
    # The page allows six posts per link in the window: the seventh is refused before anything is read.
    for _ in range(4):
        refused(client, store, runs, "POST", url, 410, data={"csrf": csrf})
    assert "Too many attempts" in refused(client, store, runs, "POST", url, 429, data={"csrf": csrf})


def test_the_answer_is_applied_even_when_no_run_can_be_resumed(awaiting):
    """Prefect unreachable: three tries, then the answer waits in the store for recovery to deliver it."""
    store, reference, links, runs, client = awaiting
    url = path(links[SUPERVISOR])
    tries = []

    def unreachable(reference: str) -> list[WaitingRun]:
        tries.append(reference)
        raise ConnectionError("the Prefect API cannot be reached")

    runs_page = TaskPage(
        store, secret=b"test secret", find_runs=unreachable, resume=runs.resume, resume_backoff=NO_PAUSE
    )
    unreachable_client = TestClient(create_app(runs_page))
    csrf = csrf_of(unreachable_client.get(url).text)
    response = unreachable_client.post(url, data={"csrf": csrf, "approved": "true"})
    assert response.status_code == 200, response.text
    assert cw.case_view(store, reference).pending_approvals == ["enterprise_focal_point"]
    assert tries == [reference] * 3 and runs.resumed == []
    applied = tl.verified_answer(store, runs.key)
    assert applied is not None and applied.applied_at is not None


def test_the_page_refuses_when_the_case_moved_on_before_the_lock(awaiting):
    """Read the page, then the flow applied the same step from the Prefect UI: the link changes nothing."""
    store, reference, links, runs, client = awaiting
    url = path(links[SUPERVISOR])
    csrf = csrf_of(client.get(url).text)
    cw.decide_plan(store, reference, "supervisor", True, SUPERVISOR)
    text = refused(client, store, runs, "POST", url, 410, data={"csrf": csrf, "approved": "true"})
    # Deciding by another route voided the link: the page says so in its own words.
    assert "the task was answered or withdrawn another way" in text


PDF = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + b"\x00" * 40
REINTEGRATION = {
    "effective_on": "2026-03-02",
    "evidence_reference": "ENR-1",
}


@pytest.fixture
def awaiting_enrolment(store, garment_brand):  # noqa: F811
    """A case whose plan is approved: its focal points' links ask for enrolment, with a file."""
    reference = case_awaiting_plan_approval(store, garment_brand)
    cw.decide_plan(store, reference, "supervisor", True, SUPERVISOR)
    cw.decide_plan(store, reference, "enterprise_focal_point", True, FOCAL_POINT)
    runs = Runs(store, reference)
    page = TaskPage(
        store, secret=b"test secret", find_runs=runs.find, resume=runs.resume, resume_backoff=NO_PAUSE
    )
    client = TestClient(create_app(page))
    url = path(
        next(
            link
            for recipient, link in links_in_mail(store, reference).items()
            if recipient == FOCAL_POINT and "/school_reintegration/" in link
        )
    )
    return store, reference, runs, client, url


def evidence_rows(store) -> list[tuple]:
    with store.transaction() as session:
        return list(
            session.execute(
                select(
                    EvidenceFile.sha256,
                    EvidenceFile.uploaded_by,
                    EvidenceFile.verified,
                    EvidenceFile.task_link_id,
                )
            )
        )


def test_an_enrolment_letter_uploaded_with_the_answer_is_stored_as_the_verified_recipients(
    awaiting_enrolment,
):
    store, reference, runs, client, url = awaiting_enrolment
    html = client.get(url).text
    assert 'enctype="multipart/form-data"' in html and 'type="file" name="evidence_file"' in html
    response = client.post(
        url,
        data={"csrf": csrf_of(html), **REINTEGRATION},
        files={"evidence_file": ("Shirin enrolment.png", PNG, "application/pdf")},
    )
    assert response.status_code == 200, response.text
    [(run_id, run_input)] = runs.resumed
    assert "evidence_file" not in run_input and PNG.decode("latin-1") not in str(run_input)
    [(sha256, uploaded_by, verified, link_id)] = evidence_rows(store)
    assert (sha256, uploaded_by, verified) == (hashlib.sha256(PNG).hexdigest(), FOCAL_POINT, True)
    assert link_id == tl.verified_answer(store, runs.key).link_id
    [stored] = ev.evidence_of(store, reference)
    assert stored.media_type == "image/png", "judged by its content, not its name or declared type"
    assert ev.evidence_content(store, reference, sha256) == PNG
    with store.transaction() as session:
        audit = session.scalars(select(AuditEvent).where(AuditEvent.action == "evidence_added")).one()
    assert audit.actor == FOCAL_POINT and "Shirin" not in str(audit.details)


def test_an_answer_without_a_file_is_still_accepted(awaiting_enrolment):
    store, reference, runs, client, url = awaiting_enrolment
    html = client.get(url).text
    response = client.post(
        url, data={"csrf": csrf_of(html), **REINTEGRATION}, files={"evidence_file": ("", b"", "")}
    )
    assert response.status_code == 200, response.text
    assert len(runs.resumed) == 1 and evidence_rows(store) == []


def test_a_file_of_the_wrong_type_too_big_or_empty_is_refused_and_changes_nothing(
    awaiting_enrolment, monkeypatch
):
    store, reference, runs, client, url = awaiting_enrolment
    csrf = csrf_of(client.get(url).text)
    form = {"csrf": csrf, **REINTEGRATION}
    text_as_pdf = {"evidence_file": ("letter.pdf", b"Dear school, please enrol the child", "application/pdf")}
    assert "not a PDF, JPEG or PNG" in refused(
        client, store, runs, "POST", url, 415, data=form, files=text_as_pdf
    )
    empty = {"evidence_file": ("letter.pdf", b"", "application/pdf")}
    assert "the file is empty" in refused(client, store, runs, "POST", url, 422, data=form, files=empty)
    monkeypatch.setenv(ev.MAX_BYTES_VARIABLE, str(len(PDF) - 1))
    big = {"evidence_file": ("letter.pdf", PDF, "application/pdf")}
    assert "over the limit" in refused(client, store, runs, "POST", url, 413, data=form, files=big)
    # Far over the limit, the body is refused before it is read to the end.
    monkeypatch.setenv(ev.MAX_BYTES_VARIABLE, "10")
    huge = {"evidence_file": ("scan.pdf", PDF + b"\0" * (200 * 1024), "application/pdf")}
    assert "over the limit" in refused(client, store, runs, "POST", url, 413, data=form, files=huge)
    assert evidence_rows(store) == []
    assert tl.verified_answer(store, runs.key) is None


def test_a_task_that_asks_no_evidence_shows_no_file_input_and_refuses_one(awaiting):
    store, reference, links, runs, client = awaiting
    url = path(links[SUPERVISOR])
    html = client.get(url).text
    assert 'type="file"' not in html and "multipart" not in html
    assert "takes no file" in refused(
        client,
        store,
        runs,
        "POST",
        url,
        400,
        data={"csrf": csrf_of(html), "approved": "true"},
        files={"evidence_file": ("x.pdf", PDF, "application/pdf")},
    )


@pytest.mark.parametrize("language", ["bn", "ar"])
def test_the_page_speaks_the_recipients_language(store, garment_brand, language):  # noqa: F811
    """The second focal point reads Bengali (or Arabic); the first, the enterprise's English."""
    document = copy.deepcopy(garment_brand.document)
    dhaka = next(site for site in document["sites"] if site["id"] == "dhaka-knit-01")
    second = next(p for p in dhaka["contacts"]["enterprise_focal_point"] if p["email"] == SECOND_FOCAL_POINT)
    second["language"] = language
    programme = load_programme_document(document, f"garment_brand ({language} focal point)")
    reference = case_awaiting_plan_approval(store, programme)
    runs = Runs(store, reference)
    page = TaskPage(
        store, secret=b"test secret", find_runs=runs.find, resume=runs.resume, resume_backoff=NO_PAUSE
    )
    client = TestClient(create_app(page))
    links = links_in_mail(store, reference)
    w = words(language)
    view = cw.case_view(store, reference)
    [milestone] = [m for m in view.open_milestones if m.step == "remediation_plan"]

    html = client.get(path(links[SECOND_FOCAL_POINT])).text
    direction = "rtl" if language == "ar" else "ltr"
    assert f'<html lang="{language}" dir="{direction}">' in html
    pending = w["list_separator"].join(w[f"role.{role}"] for role in view.pending_approvals)
    question = w["question.plan_approval"].format(plan_id=view.plan_id, pending=pending)
    assert f"<h1>{escape(question)}</h1>" in html
    assert format_instant(milestone.due_at, "Asia/Dhaka", language) in html  # the locale's date, site time
    assert f"<bdi>{SECOND_FOCAL_POINT}</bdi> ({w['role.enterprise_focal_point']})" in html
    for key in ("case", "due", "page.answering_as", "page.submit", "page.footer"):
        assert str(escape(w[key])) in html, key
    # The form too: its fields' titles and hints.
    assert str(escape(w["field.ApprovalAnswer.approved"])) in html
    assert str(escape(w["field.ApprovalAnswer.comment.hint"])) in html
    for english in (
        "Answering as",
        "Submit",
        "Use case references only",
        "Approve remediation plan",
        "Required when not approved",
        "Comment",
    ):
        assert english not in html
    # The email with her link said the same in her language.
    with store.transaction() as session:
        [her_mail] = [
            m for m in session.scalars(select(OutboxMessage)) if links[SECOND_FOCAL_POINT] in m.body_text
        ]
    assert her_mail.recipients == [SECOND_FOCAL_POINT]
    assert w["task_lead"] in her_mail.body_text and w["footer"] in her_mail.body_text

    # The first focal point names no language: the enterprise's English (read before the role is
    # decided, which voids the other focal point's link; by another browser, with its own cookie).
    english = TestClient(create_app(page)).get(path(links[FOCAL_POINT])).text
    assert '<html lang="en" dir="ltr">' in english and "Answering as" in english
    done = client.post(
        path(links[SECOND_FOCAL_POINT]), data={"csrf": csrf_of(html), "approved": "true", "comment": "ok"}
    )
    assert done.status_code == 200, done.text
    recorded = w["page.recorded"].format(
        reference=reference, recipient=SECOND_FOCAL_POINT, role=w["role.enterprise_focal_point"]
    )
    assert str(escape(recorded)) in done.text and f'lang="{language}"' in done.text
    # What the case waits for next is said in her language too.
    assert str(escape(w["page.next_step"])) in done.text and "The case now waits for" not in done.text


def test_the_words_of_a_forms_fields_are_the_models_own():
    """A field's English in the catalogs is its title in the RunInput model; renamed there, it fails here."""
    from remediation_flows.flows.due_diligence import answers as cycle_answers
    from remediation_flows.flows.remediation import answers

    worded = [key for key in ENGLISH if key.startswith("field.")]
    assert worded
    for key in worded:
        _, form_name, field_name, *hint = key.split(".")
        form = getattr(answers, form_name, None) or getattr(cycle_answers, form_name)
        field = form.model_fields[field_name]
        assert ENGLISH[key] == (field.description if hint else field.title), key


def test_the_payer_confirms_a_stipend_payment_by_link_verified_and_at_once(store, garment_brand):  # noqa: F811
    """No run waits for a payment: the page records it in the store, the link spent, in one request."""
    from decimal import Decimal

    from remediation_flows.core.store.schema import StipendPayment

    reference = case_awaiting_plan_approval(store, garment_brand)
    cw.decide_plan(store, reference, "supervisor", True, SUPERVISOR)
    cw.decide_plan(store, reference, "enterprise_focal_point", True, FOCAL_POINT)
    page = TaskPage(store, secret=b"test secret", find_runs=lambda _: [], resume=lambda *_: None)
    client = TestClient(create_app(page))
    url = path(links_in_mail(store, reference, step="stipend_payment")[FOCAL_POINT])
    html = client.get(url).text
    assert "Stipend payment: confirm the amount paid" in html and 'name="payment_reference"' in html
    assert 'name="on_behalf_of"' not in html  # the link says who pays
    today = dt.date.today().isoformat()
    form = {"csrf": csrf_of(html), "amount": "8000", "currency": "BDT", "paid_on": today}
    wrong = client.post(url, data=form | {"currency": "USD", "payment_reference": "TRX-1"})
    assert wrong.status_code == 422 and "not the ledger&#39;s BDT" in wrong.text
    done = client.post(url, data=form | {"payment_reference": "TRX-1"})
    assert done.status_code == 200 and "Thank you" in done.text, done.text
    [line, following] = cw.stipend_ledger(store, reference)
    assert line.settled_on == dt.date.today() and following.number == 2
    with store.transaction() as session:
        [payment] = session.scalars(select(StipendPayment)).all()
        link = session.get(TaskLink, payment.task_link_id)
        assert (payment.amount, payment.verified, payment.confirmed_for) == (
            Decimal("8000.00"),
            True,
            FOCAL_POINT,
        )
        assert (link.state, link.recipient) == ("used", FOCAL_POINT)
    assert client.post(url, data=form | {"payment_reference": "TRX-2"}).status_code == 410


def test_the_flow_tells_the_pages_own_delivery_from_an_answer_typed_in_the_ui(awaiting):
    """What the run was resumed with is compared with the link's answer, words or codes alike."""
    from remediation_flows.flows.prompts import applied_by_link, same_answer
    from remediation_flows.flows.remediation.answers import ApprovalAnswer

    store, reference, links, runs, client = awaiting
    assert applied_by_link(store, runs.key) is None and not tl.has_applied_answers(store, reference)
    url = path(links[FOCAL_POINT])
    client.post(url, data={"csrf": csrf_of(client.get(url).text), "approved": "true"})
    assert tl.has_applied_answers(store, reference), "the run's start looks in Prefect for unread answers"
    applied = applied_by_link(store, runs.key)
    assert applied is not None and applied.recipient == FOCAL_POINT
    [(_, delivered)] = runs.resumed
    schema = ApprovalAnswer.form_schema()
    assert same_answer(schema, delivered, applied.answer), "the page's own delivery: settled, not refused"
    typed = delivered | {"answered_by": "chen.jing@ngo.example", "comment": "yes"}
    assert not same_answer(schema, typed, applied.answer), "a UI answer that crossed it: refused"
    # A link used before the page applied answers is the run's to apply: not settled as applied.
    with store.transaction() as session:
        session.execute(update(TaskLink).values(applied_at=None))
    assert applied_by_link(store, runs.key) is None and not tl.has_applied_answers(store, reference)


def test_a_run_between_two_waits_is_resumed_on_a_later_try(awaiting):
    """The run was not yet suspended when the answer was applied: the second look finds it."""
    store, reference, links, runs, client = awaiting
    looks: list[str] = []

    def suspended_on_the_second_look(reference: str) -> list[WaitingRun]:
        looks.append(reference)
        return runs.find(reference) if len(looks) > 1 else []

    page = TaskPage(
        store,
        secret=b"test secret",
        find_runs=suspended_on_the_second_look,
        resume=runs.resume,
        resume_backoff=NO_PAUSE,
    )
    browser = TestClient(create_app(page))
    url = path(links[SUPERVISOR])
    csrf = csrf_of(browser.get(url).text)
    assert browser.post(url, data={"csrf": csrf, "approved": "true"}).status_code == 200
    assert len(looks) == 2 and [run_id for run_id, _ in runs.resumed] == ["run-1"]
