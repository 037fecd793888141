"""Task links of a due-diligence cycle on SQLite and PostgreSQL: issued per question and per site, used
once, void when the question is answered by another route, exactly one owner per row, and every
refusal (in the store and on the page, in the reader's language) leaving the store as it was.
"""

from __future__ import annotations

import datetime as dt
import re

import pytest
from fastapi.testclient import TestClient
from markupsafe import escape
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from remediation_flows.core import cycle_links as cl
from remediation_flows.core import task_links as tl
from remediation_flows.core.config import load_programme_document
from remediation_flows.core.config.loader import parse_yaml
from remediation_flows.core.due_diligence import cycle as dd
from remediation_flows.core.due_diligence.risk import AgeVerificationPractice, SiteQuestionnaire
from remediation_flows.core.mail.i18n import words
from remediation_flows.core.store import repository as repo
from remediation_flows.core.store.schema import (
    Approval,
    AuditEvent,
    EvidenceFile,
    Milestone,
    OutboxMessage,
    TaskLink,
    utcnow,
)
from remediation_flows.flows.due_diligence.questions import prompt_of, question_for
from remediation_flows.flows.prompts import input_key
from remediation_flows.task_page.app import TaskPage, WaitingRun, create_app
from remediation_flows.task_page.cycle_tasks import CycleTasks
from tests.conftest import EXAMPLES
from tests.unit.test_task_links import assessed_case

PM = "li.wen@ngo.example"
DHAKA_FOCAL_POINT = "compliance@northwind-apparel.example"
VN_FOCAL_POINT = "vn.compliance@northwind-apparel.example"
YEAR = 2030
REFERENCE = f"DD-northwind-apparel-{YEAR}"
BASE = "https://tasks.example"
LINK = re.compile(r"https://tasks\.example/cycle/(DD-[a-z0-9-]+-\d{4})/([a-z0-9_-]+)/([A-Za-z0-9_-]+)")


@pytest.fixture(scope="module")
def programme():
    """The garment brand, its Dhaka site reading Bengali: the site's people get its pages in Bengali."""
    document = parse_yaml((EXAMPLES / "garment_brand.yaml").read_text(encoding="utf-8"), "garment_brand.yaml")
    next(site for site in document["sites"] if site["id"] == "dhaka-knit-01")["language"] = "bn"
    return load_programme_document(document, "garment_brand.yaml")


def questionnaire() -> SiteQuestionnaire:
    return SiteQuestionnaire(
        workers_under_18_percent=0,
        age_verification=AgeVerificationPractice.VERIFIED_WITH_AUTHORITY,
        uses_labour_agents=False,
        uses_subcontractors=False,
        student_or_vocational_workers=False,
        dormitories=False,
        cases_last_3_years=0,
        audit_findings_child_labour=0,
    )


def ask_site(store, site: str, answering_key: str = "dd-key-0") -> list[tl.IssuedLink]:
    return cl.issue_question_links(
        store,
        REFERENCE,
        question=f"risk-{site}",
        roles=["enterprise_focal_point"],
        site_id=site,
        answering_key=answering_key,
        base=BASE,
    )


@pytest.fixture
def cycle(store, programme):
    """A cycle in risk assessment whose first site's focal point was sent a link."""
    dd.start_cycle(store, programme, YEAR, PM)
    [issued] = ask_site(store, "dhaka-knit-01")
    return store, issued


def token_of(url: str) -> str:
    match = LINK.search(url)
    assert match is not None, url
    return match.group(3)


def snapshot(store) -> tuple:
    """Everything a refused link must leave as it was."""
    with store.transaction() as session:
        return (
            session.scalar(select(func.count()).select_from(OutboxMessage)),
            session.scalar(select(func.count()).select_from(AuditEvent)),
            session.scalar(select(func.count()).select_from(EvidenceFile)),
            tuple(
                session.execute(select(TaskLink.id, TaskLink.state, TaskLink.answer).order_by(TaskLink.id))
            ),
        )


def test_a_per_site_question_sends_one_link_to_that_sites_focal_point_in_an_email_of_its_own(cycle):
    store, issued = cycle
    assert issued.recipient == DHAKA_FOCAL_POINT and issued.role == "enterprise_focal_point"
    assert LINK.search(issued.url).groups()[:2] == (REFERENCE, "risk-dhaka-knit-01")
    with store.transaction() as session:
        [row] = session.scalars(select(TaskLink)).all()
        assert (row.case_id, row.cycle_id is not None, row.site_id) == (None, True, "dhaka-knit-01")
        assert row.token_sha256 == tl.hash_token(token_of(issued.url))
        outbox = list(session.scalars(select(OutboxMessage)))
        [mail] = [m for m in outbox if LINK.search(m.body_text)]
        assert mail.recipients == [DHAKA_FOCAL_POINT]
        assert LINK.search(mail.body_text).group(0) == issued.url
        # The owner's notice that the step opened asks nothing: it says where the questions come.
        [opened] = [m for m in outbox if not LINK.search(m.body_text)]
        notices = {words(code)["instr.due_diligence_opened"].format(year=YEAR) for code in ("en", "bn")}
        assert any(notice in opened.body_text for notice in notices), opened.body_text
        assert "/cycle/" not in opened.body_text
    # The flow asks again when its run resumes: nothing new is sent while the link still works.
    before = snapshot(store)
    assert ask_site(store, "dhaka-knit-01") == []
    assert snapshot(store) == before


def test_a_link_works_once_and_its_answer_is_the_verified_persons(cycle):
    store, issued = cycle
    token = token_of(issued.url)
    task = cl.read_cycle_link(store, token, REFERENCE, "risk-dhaka-knit-01")
    assert (task.recipient, task.role, task.site_id, task.step) == (
        DHAKA_FOCAL_POINT,
        "enterprise_focal_point",
        "dhaka-knit-01",
        "risk_assessment",
    )
    delivered = []
    cl.use_cycle_link(
        store,
        token,
        REFERENCE,
        "risk-dhaka-knit-01",
        answered_key="dd-key-0",
        answer={"answered_by": DHAKA_FOCAL_POINT, "dormitories": False},
        deliver=delivered.append,
    )
    assert [t.link_id for t in delivered] == [task.link_id]
    verified = tl.verified_answer(store, "dd-key-0")
    assert verified is not None and (verified.recipient, verified.role) == (DHAKA_FOCAL_POINT, task.role)
    before = snapshot(store)
    with pytest.raises(tl.LinkGone) as again:
        cl.use_cycle_link(
            store,
            token,
            REFERENCE,
            "risk-dhaka-knit-01",
            answered_key="x",
            answer={},
            deliver=delivered.append,
        )
    assert again.value.reason == "used" and again.value.language == "bn"
    assert snapshot(store) == before and len(delivered) == 1
    # The run resumes and asks again before it reads the answer: the used link is not replaced.
    assert ask_site(store, "dhaka-knit-01", answering_key="dd-key-0") == []
    # But after the core refused that answer, the question is asked under a new key: a new link goes.
    [fresh] = ask_site(store, "dhaka-knit-01", answering_key="dd-key-1")
    assert fresh.recipient == DHAKA_FOCAL_POINT and fresh.url != issued.url


def test_an_answer_by_another_route_voids_the_link_and_the_next_sites_link_goes_out_then(cycle):
    store, issued = cycle
    dd.record_site_risk(store, "northwind-apparel", YEAR, "dhaka-knit-01", questionnaire(), PM)
    with pytest.raises(tl.LinkGone) as gone:
        cl.read_cycle_link(store, token_of(issued.url), REFERENCE, "risk-dhaka-knit-01")
    assert gone.value.reason == "void"
    with store.transaction() as session:
        voided = session.scalars(select(AuditEvent).where(AuditEvent.action == "task_link_voided")).one()
        assert voided.reason == "the task was answered by another route"
    [next_site] = ask_site(store, "hcmc-sew-02")
    assert next_site.recipient == VN_FOCAL_POINT
    # Completing the step voids whatever links of it were still open.
    dd.record_site_risk(store, "northwind-apparel", YEAR, "hcmc-sew-02", questionnaire(), PM)
    with store.transaction() as session:
        assert {row.state for row in session.scalars(select(TaskLink))} == {"void"}


def test_a_link_or_a_file_belongs_to_exactly_one_of_a_case_and_a_cycle(store, programme):
    reference = assessed_case(store, programme)
    dd.start_cycle(store, programme, YEAR, PM)
    with store.transaction() as session:
        case_id = repo.get_case(session, reference).id
        milestone = session.scalars(select(Milestone).where(Milestone.cycle_id.is_not(None))).first()
        cycle_id, milestone_id = milestone.cycle_id, milestone.id
    for owners in ({"case_id": None, "cycle_id": None}, {"case_id": case_id, "cycle_id": cycle_id}):
        with pytest.raises(IntegrityError), store.transaction() as session:
            session.add(
                TaskLink(
                    token_sha256="0" * 64,
                    milestone_id=milestone_id,
                    step="risk_assessment",
                    role="enterprise_focal_point",
                    recipient=DHAKA_FOCAL_POINT,
                    expires_at=utcnow(),
                    **owners,
                )
            )
        with pytest.raises(IntegrityError), store.transaction() as session:
            session.add(
                EvidenceFile(
                    step="training",
                    sha256="0" * 64,
                    size=1,
                    media_type="application/pdf",
                    content=b"%PDF",
                    uploaded_by=PM,
                    verified=False,
                    **owners,
                )
            )


def test_refusals_in_the_store_change_nothing(cycle):
    store, issued = cycle
    token = token_of(issued.url)
    before = snapshot(store)
    with pytest.raises(tl.UnknownLink):
        cl.read_cycle_link(store, token[:-3] + "AAA", REFERENCE, "risk-dhaka-knit-01")
    with pytest.raises(tl.WrongTask):
        cl.read_cycle_link(store, token, REFERENCE, "risk-hcmc-sew-02")
    with pytest.raises(tl.WrongTask):  # a cycle's token on a case's page
        tl.read_link(store, token, "CL-2030-000001", "risk_assessment")
    with store.transaction() as session:
        session.execute(update(TaskLink).values(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)))
    expired_state = snapshot(store)
    with pytest.raises(tl.LinkGone) as expired:
        cl.use_cycle_link(
            store, token, REFERENCE, "risk-dhaka-knit-01", answered_key="k", answer={}, deliver=print
        )
    assert expired.value.reason == "expired"
    assert snapshot(store) == expired_state and before[:3] == expired_state[:3]


class Runs:
    """The cycle's suspended run as the page finds it, and the answers it was resumed with."""

    def __init__(self, store) -> None:
        view = dd.cycle_view(store, "northwind-apparel", YEAR)
        self.key = input_key(store, prompt_of(view, question_for(view)))
        self.resumed: list[tuple[str, dict]] = []

    def find(self, enterprise_id: str) -> list[WaitingRun]:
        return [WaitingRun("cycle-run", self.key)]

    def resume(self, run_id, run_input) -> None:
        self.resumed.append((run_id, run_input))


@pytest.fixture
def client(cycle):
    store, issued = cycle
    runs = Runs(store)
    page = TaskPage(store, secret=b"test secret", token_limit=5)
    app = create_app(page, CycleTasks(page, find_runs=runs.find, resume=runs.resume))
    return store, issued, runs, TestClient(app)


def path(url: str) -> str:
    return re.sub(r"^https?://[^/]+", "", url)


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf" value="([0-9a-f]+)"', html)
    assert match is not None
    return match.group(1)


ANSWER = {
    "workers_under_18_percent": "3",
    "age_verification": "Verified with authority",
    "dormitories": "true",
    "cases_last_3_years": "0",
    "audit_findings_child_labour": "0",
}


def test_the_page_shows_the_question_in_the_recipients_language_and_resumes_the_run(client):
    store, issued, runs, http = client
    bengali = words("bn")
    response = http.get(path(issued.url))
    assert response.status_code == 200, response.text
    html = response.text
    assert 'lang="bn"' in html and REFERENCE in html and "Gazipur knitwear factory (dhaka-knit-01)" in html
    assert bengali["page.cycle"] in html and "Asia/Dhaka" in html
    question = bengali["question.cycle.risk_assessment.SiteRiskAnswer"].format(site="dhaka-knit-01")
    assert f"<h1>{escape(question)}</h1>" in html
    assert str(escape(bengali["field.SiteRiskAnswer.dormitories"])) in html
    assert 'name="workers_under_18_percent"' in html and 'name="answered_by"' not in html
    answer = http.post(path(issued.url), data=ANSWER | {"csrf": csrf_of(html)})
    assert answer.status_code == 200, answer.text
    [(run_id, run_input)] = runs.resumed
    assert run_id == "cycle-run" and run_input["answered_by"] == DHAKA_FOCAL_POINT
    assert run_input["dormitories"] is True and run_input["uses_labour_agents"] is False
    verified = tl.verified_answer(store, runs.key)
    assert verified is not None and verified.recipient == DHAKA_FOCAL_POINT
    # The page only delivers: the flow applies the answer when it resumes.
    assert dd.cycle_view(store, "northwind-apparel", YEAR).risk_levels == {}


def refused(store, runs, http, method: str, url: str, status: int, **kwargs) -> str:
    before = snapshot(store)
    response = http.request(method, url, **kwargs)
    assert response.status_code == status, response.text
    assert snapshot(store) == before and runs.resumed == []
    return response.text


def test_page_refusals_are_in_the_readers_language_and_change_nothing(client):
    store, issued, runs, http = client
    url = path(issued.url)
    csrf = csrf_of(http.get(url).text)
    bengali, spanish = words("bn"), words("es")
    forged = url[:-4] + ("AAAA" if not url.endswith("AAAA") else "BBBB")
    # No link is known: the request's language, else English.
    assert escape(spanish["refusal.unknown"]) in refused(
        store, runs, http, "GET", forged, 404, headers={"Accept-Language": "fr;q=0.9, es;q=0.8, en;q=0.1"}
    )
    assert "not known" in refused(store, runs, http, "POST", forged, 404, data=ANSWER | {"csrf": csrf})
    # The link is known: its recipient's language (the Dhaka site's Bengali), whatever the browser says.
    other = url.replace("/risk-dhaka-knit-01/", "/risk-hcmc-sew-02/")
    headers = {"Accept-Language": "es"}
    assert escape(bengali["refusal.wrong_task"]) in refused(
        store, runs, http, "GET", other, 403, headers=headers
    )
    assert escape(bengali["refusal.csrf"]) in refused(
        store, runs, http, "POST", url, 403, data=ANSWER, headers=headers
    )
    text = refused(
        store, runs, http, "POST", url, 422, data={"csrf": csrf, "workers_under_18_percent": "300"}
    )
    assert 'lang="bn"' in text
    # What is wrong with each field is worded in Bengali after the field's Bengali title.
    title = bengali["field.SiteRiskAnswer.workers_under_18_percent"]
    assert str(escape(f"{title}: {bengali['invalid.at_most'].format(limit=100)}")) in text
    missing = bengali["field.SiteRiskAnswer.age_verification"] + ": " + bengali["invalid.missing"]
    assert str(escape(missing)) in text
    assert "Input should be" not in text and "Field required" not in text
    assert escape(bengali["refusal.no_file"]) in refused(
        store,
        runs,
        http,
        "POST",
        url,
        400,
        data=ANSWER | {"csrf": csrf},
        files={"evidence_file": ("a.pdf", b"%PDF-1.7")},
    )
    runs.key = "another-suspension-0"
    assert escape(bengali["refusal.not_waiting"]) in refused(
        store, runs, http, "POST", url, 409, data=ANSWER | {"csrf": csrf}
    )
    for _ in range(5):
        http.post(url, data={"csrf": csrf})
    assert escape(words("en")["refusal.too_many"]) in refused(
        store, runs, http, "POST", url, 429, data=ANSWER
    )


def test_the_words_of_a_cycle_question_in_the_catalogs_are_the_flows_own():
    """A question's English in the catalogs is the flow's prompt; reworded there, it fails here."""
    from remediation_flows.core.mail.i18n import ENGLISH
    from remediation_flows.flows.due_diligence.questions import QUESTIONS

    for question in QUESTIONS:
        assert ENGLISH[f"question.cycle.{question.step}.{question.form.__name__}"] == question.words


def test_remediate_task_link_reissue_works_for_a_cycles_question(cycle, capsys):
    from remediation_flows.cli import main

    store, issued = cycle
    command = ["task-link", "reissue", REFERENCE, "--step", "risk-dhaka-knit-01", "--to", DHAKA_FOCAL_POINT]
    assert main([*command, "--by", PM, "--reason", "the email went to spam", "--url", store.url]) == 0
    printed = capsys.readouterr().out
    assert f"new risk-dhaka-knit-01 link for {DHAKA_FOCAL_POINT}" in printed
    with pytest.raises(tl.LinkGone) as old:
        cl.read_cycle_link(store, token_of(issued.url), REFERENCE, "risk-dhaka-knit-01")
    assert old.value.reason == "void"
    with store.transaction() as session:
        mails = [
            m
            for m in session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))
            if "/cycle/" in m.body_text
        ]
        assert [m.recipients for m in mails] == [[DHAKA_FOCAL_POINT], [DHAKA_FOCAL_POINT]]
        new_url = re.search(r"https?://\S+/cycle/\S+", mails[-1].body_text).group(0)
        reissued = session.scalars(select(AuditEvent).where(AuditEvent.action == "task_link_reissued")).one()
        assert (reissued.actor, reissued.reason) == (PM, "the email went to spam")
    assert cl.read_cycle_link(
        store, new_url.rsplit("/", 1)[-1], REFERENCE, "risk-dhaka-knit-01"
    ).recipient == (DHAKA_FOCAL_POINT)
    assert main(["task-link", "list", REFERENCE, "--url", store.url]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert [line.split()[1] for line in listed] == ["void", "issued"]
    # The step's name finds the person's link too; someone never sent one is told so.
    assert (
        main(
            [
                *command[:4],
                "risk_assessment",
                "--to",
                VN_FOCAL_POINT,
                "--by",
                PM,
                "--reason",
                "x",
                "--url",
                store.url,
            ]
        )
        == 2
    )
    assert f"was ever sent to {VN_FOCAL_POINT}" in capsys.readouterr().err


COO = "coo@northwind-apparel.example"
PDF = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n"


def ask_now(store) -> tuple[dd.CycleView, object, dict[str, str]]:
    """Send the links of the question the cycle asks now, as the flow does; (view, question, links)."""
    view = dd.cycle_view(store, "northwind-apparel", YEAR)
    question = question_for(view)
    issued = cl.issue_question_links(
        store,
        REFERENCE,
        question=question.link_question(view),
        roles=question.roles(view),
        site_id=None,
        answering_key=input_key(store, prompt_of(view, question)),
        base=BASE,
    )
    return view, question, {link.recipient: link.url for link in issued}


def test_an_approval_by_link_is_the_approvers_verified_and_the_file_goes_with_the_attendance(client):
    from remediation_flows.core.approvals import Decider
    from remediation_flows.flows.due_diligence.questions import decide_by_link

    store, _, runs, http = client
    for site in ("dhaka-knit-01", "hcmc-sew-02"):
        dd.record_site_risk(store, "northwind-apparel", YEAR, site, questionnaire(), PM)
    dd.record_policy_review(store, "northwind-apparel", YEAR, dd.PolicyReview(True, True, True, "POL-1"), PM)
    view, question, links = ask_now(store)
    assert question.is_approval and set(links) == {COO, PM}
    assert LINK.search(links[COO]).group(2) == "policies_and_procedures-1-decision"
    runs.__init__(store)

    html = http.get(path(links[COO])).text
    assert 'name="approved"' in html and 'name="role"' not in html
    assert http.post(path(links[COO]), data={"csrf": csrf_of(html), "approved": "true"}).status_code == 200
    [(_, run_input)] = runs.resumed
    assert run_input["answered_by"] == COO
    # The flow, resumed, applies the link's answer as the approver's own, in the link's role.
    verified = tl.verified_answer(store, runs.key)
    decide_by_link(store, view, {"approved": True, "comment": None}, verified)
    with store.transaction() as session:
        approval = session.scalars(select(Approval).where(Approval.role == "enterprise_leadership")).one()
        assert (approval.decided_for, approval.verified, approval.decided_by) == (COO, True, COO)
    # Staff record the program manager's decision in the UI: the manager's own link is void.
    staff = Decider(person=PM, verified=False, entered_by=PM, channel="the Prefect UI")
    dd.decide(store, "northwind-apparel", YEAR, "program_manager", True, staff)
    with pytest.raises(tl.LinkGone):
        cl.read_cycle_link(store, token_of(links[PM]), REFERENCE, "policies_and_procedures-1-decision")

    # Training: the attendance question takes the attendance sheet, stored as the cycle's evidence.
    dd.plan_training(store, "northwind-apparel", YEAR, 2, 25, PM)
    _, question, links = ask_now(store)
    assert question.key == "training-attendance" and set(links) == {PM}
    runs.__init__(store)
    runs.resumed.clear()
    html = http.get(path(links[PM])).text
    assert 'enctype="multipart/form-data"' in html and 'name="evidence_file"' in html
    answered = http.post(
        path(links[PM]),
        data={"csrf": csrf_of(html), "attended": "20"},
        files={"evidence_file": ("sheet.pdf", PDF, "application/pdf")},
    )
    assert answered.status_code == 200, answered.text
    assert [run_input["attended"] for _, run_input in runs.resumed] == [20]
    with store.transaction() as session:
        [sheet] = session.scalars(select(EvidenceFile)).all()
        assert (sheet.case_id, sheet.cycle_id is not None, sheet.step, sheet.uploaded_by, sheet.verified) == (
            None,
            True,
            "training",
            PM,
            True,
        )


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_migration_0014_keeps_case_links_and_goes_down_without_the_cycles(backend, programme, tmp_path):
    """Upgraded with rows in place, then down to 0013 (the cycle's links go) and up again."""
    from alembic import command

    from remediation_flows.core.store import CaseStore
    from remediation_flows.core.store.database import alembic_config
    from tests.conftest import migrated_database
    from tests.unit.test_task_links import case_awaiting_plan_approval

    with migrated_database(backend, tmp_path) as url:
        store = CaseStore(url)
        try:
            case_awaiting_plan_approval(store, programme)
            dd.start_cycle(store, programme, YEAR, PM)
            ask_site(store, "dhaka-knit-01")
            with store.transaction() as session:
                case_links = set(session.scalars(select(TaskLink.id).where(TaskLink.case_id.is_not(None))))
                assert session.scalar(select(func.count()).select_from(TaskLink)) == len(case_links) + 1
        finally:
            store.dispose()
        command.downgrade(alembic_config(url), "0013")
        command.upgrade(alembic_config(url), "head")
        store = CaseStore(url)
        try:
            with store.transaction() as session:
                assert set(session.scalars(select(TaskLink.id))) == case_links
        finally:
            store.dispose()
