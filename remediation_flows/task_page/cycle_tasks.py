"""The task page of a due-diligence cycle's question, at ``/cycle/<DD-reference>/<question>/<token>``.

The person a cycle question was emailed to (a site's focal point for its risk questionnaire, the
approvers of the policies and of the annual report, the program manager for the training) answers
it here as they would a case's task (:mod:`remediation_flows.task_page.app`): the page shows the
question, the enterprise and site, the due date in the site's time, in the recipient's language,
and the form the Resume dialog shows, generated from the same RunInput model less the fields that
say who answers. Submitting validates the answer as the flow would (the core act, rehearsed on a
transaction that rolls back), spends the link, stores the evidence file where the question takes
one, and resumes the waiting cycle run, all or nothing. CSRF checking, attempt limits and refusal
pages are the case page's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse
from pydantic import ValidationError

from remediation_flows.core import cycle_links as cl
from remediation_flows.core import evidence as ev
from remediation_flows.core import task_links as tl
from remediation_flows.core.due_diligence import cycle as dd
from remediation_flows.core.errors import RemediationError
from remediation_flows.core.mail.i18n import words
from remediation_flows.core.mail.render import format_instant
from remediation_flows.core.store import repository as repo
from remediation_flows.flows.due_diligence.questions import (
    CycleQuestion,
    filled_for,
    prompt_of,
    question_for,
)
from remediation_flows.flows.forms import resume_input
from remediation_flows.flows.prompts import input_key
from remediation_flows.flows.remediation.artifacts import role_name
from remediation_flows.task_page.app import (
    CSRF_COOKIE,
    Posted,
    Refusal,
    TaskPage,
    WaitingRun,
    answer_values,
    check_csrf,
    evidence_upload,
    form_fields,
    link_refusal,
    parse_posted,
    read_capped,
    too_large,
    validation_problems,
)

CYCLE_FLOW = "due-diligence-cycle"


def find_waiting_cycle_run(enterprise_id: str) -> list[WaitingRun]:
    """The enterprise's due-diligence runs that are suspended now, with the key each waits under."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        FlowFilter,
        FlowFilterName,
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
        FlowRunFilterTags,
    )
    from prefect.client.schemas.objects import StateType

    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(
            flow_filter=FlowFilter(name=FlowFilterName(any_=[CYCLE_FLOW])),
            flow_run_filter=FlowRunFilter(
                state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.PAUSED])),
                tags=FlowRunFilterTags(all_=[f"enterprise:{enterprise_id}"]),
            ),
        )
    return [
        WaitingRun(run.id, run.state.state_details.pause_key or "")
        for run in runs
        if run.state is not None and run.state.is_paused()
    ]


def question_words(question: CycleQuestion, w: dict[str, str]) -> str:
    """The question's headline in the reader's words (placeholders unfilled), else the flow's English."""
    return w.get(f"question.cycle.{question.step}.{question.form.__name__}", question.words)


@dataclass(frozen=True)
class Opened:
    """A cycle link that may be answered now: its task, the cycle, the question, the reader's language."""

    task: cl.CycleLinkTask
    view: dd.CycleView
    question: CycleQuestion
    language: str


class CycleTasks:
    """The cycle's task pages, sharing the case page's store, secret, limits and templates."""

    def __init__(
        self,
        page: TaskPage,
        *,
        find_runs: Callable[[str], list[WaitingRun]] = find_waiting_cycle_run,
        resume: Callable[[Any, dict[str, Any]], None] | None = None,
    ) -> None:
        self.page = page
        self.find_runs = find_runs
        self._resume = resume

    def resume(self, run_id: Any, run_input: dict[str, Any]) -> None:
        """Resume the waiting run with the answer, as the case page does."""
        (self._resume or self.page.resume)(run_id, run_input)

    def language_of(self, task: cl.CycleLinkTask) -> str:
        """The language the link's recipient reads: their own, else their site's, else the enterprise's."""
        with self.page.store.reading() as session:
            programme = repo.current_programme(session, task.enterprise_id)
            return programme.language_of(task.recipient, task.site_id)

    def open(self, token: str, reference: str, question: str) -> Opened:
        """The link's task and the cycle's question now; a :class:`Refusal` if it cannot be answered."""
        try:
            task = cl.read_cycle_link(self.page.store, token, reference, question)
        except tl.LinkRefused as error:
            raise link_refusal(error) from None
        language = self.language_of(task)
        view = dd.cycle_view(self.page.store, task.enterprise_id, task.year)
        asked = None if view.is_finished else question_for(view)
        if asked is None or not self._asks(asked, view, task):
            raise Refusal(409, "refusal.not_waiting", language=language)
        return Opened(task, view, asked, language)

    @staticmethod
    def _asks(asked: CycleQuestion, view: dd.CycleView, task: cl.CycleLinkTask) -> bool:
        if asked.link_question(view) != task.question:
            return False
        return task.role in view.pending_approvals if asked.is_approval else True

    def context(self, opened: Opened, token: str, **extra: Any) -> dict[str, Any]:
        """What the task template shows: references, never a child's identity."""
        task, view, question, language = opened.task, opened.view, opened.question, opened.language
        w = words(language)
        with self.page.store.reading() as session:
            programme = repo.current_programme(session, task.enterprise_id)
        site_id = task.site_id or next(iter(programme.sites))
        zone = programme.site(site_id).time_zone
        filled = filled_for(view)
        filled["pending"] = w["list_separator"].join(
            w.get(f"role.{role}", role_name(role)) for role in view.pending_approvals
        )
        return {
            "language": language,
            "reference_label": "page.cycle",
            "reference": task.cycle_reference,
            "site": f"{programme.site(task.site_id).name} ({task.site_id})"
            if task.site_id
            else w["page.whole_enterprise"],
            "enterprise": task.enterprise_id,
            "question": question_words(question, w).format(**filled),
            "due": format_instant(task.due_at, zone, language),
            "recipient": task.recipient,
            "role": w.get(f"role.{task.role}", role_name(task.role)),
            "fields": extra.pop("fields", None) or form_fields(question.form, w=w),
            "csrf": self.page.csrf_token(token),
            "errors": extra.pop("errors", []),
            "evidence": w.get(f"evidence.{question.step}", question.evidence) if question.evidence else "",
            "evidence_limit": f"{ev.max_bytes() / (1024 * 1024):g} MB",
            **extra,
        }

    def show(self, token: str, reference: str, question: str) -> HTMLResponse:
        """The question's page, with the anti-forgery cookie."""
        opened = self.open(token, reference, question)
        return self._page(opened, token)

    def _page(self, opened: Opened, token: str, status: int = 200, **extra: Any) -> HTMLResponse:
        context = self.context(opened, token, **extra)
        response = self.page.render("task.html", status, **context)
        response.set_cookie(CSRF_COOKIE, context["csrf"], httponly=True, samesite="strict")
        return response

    def _again(
        self, opened: Opened, token: str, posted: dict[str, str], problems: list[str], status: int = 422
    ):
        fields = form_fields(
            opened.question.form,
            {k: v for k, v in posted.items() if k != "csrf"},
            w=words(opened.language),
        )
        return self._page(opened, token, status, fields=fields, errors=problems)

    def submit(
        self, token: str, reference: str, question: str, form: Posted, csrf_cookie: str | None
    ) -> HTMLResponse:
        """Validate the answer as the flow would, spend the link and resume the run, or refuse."""
        opened = self.open(token, reference, question)
        task, view, asked, language = opened.task, opened.view, opened.question, opened.language
        posted = form.fields
        check_csrf(self.page.csrf_token(token), posted.get("csrf"), csrf_cookie, language)
        upload = evidence_upload(form, bool(asked.evidence), language)
        identity: dict[str, Any] = {"answered_by": task.recipient}
        if asked.is_approval:
            identity["role"] = task.role
        try:
            answer = asked.form.model_validate(answer_values(asked.form, posted) | identity)
        except ValidationError as error:
            problems = validation_problems(asked.form, error, words(language))
            return self._again(opened, token, posted, problems)
        payload = answer.model_dump(mode="json")
        link = tl.VerifiedAnswer(task.link_id, task.recipient, task.role, payload)
        try:
            # The core act the flow will run, on a transaction that rolls back: refused here, refused there.
            self._rehearse(view, asked, answer.model_dump(exclude={"answered_by"}), link)
        except RemediationError as error:
            return self._again(opened, token, posted, [str(error)])
        if upload is not None:
            try:
                ev.check_evidence(upload.content, upload.source)
            except ev.EvidenceRefused as refused:
                status = {"too_large": 413, "wrong_type": 415, "empty": 422}[refused.kind]
                return self._again(opened, token, posted, [str(refused)], status)
        key = input_key(self.page.store, prompt_of(view, asked))
        run = next((r for r in self.find_runs(view.enterprise_id) if r.key == key), None)
        if run is None:
            raise Refusal(409, "refusal.not_waiting", language=language)
        schema = asked.form.model_json_schema()
        try:
            cl.use_cycle_link(
                self.page.store,
                token,
                reference,
                question,
                answered_key=key,
                answer=payload,
                deliver=lambda _: self.resume(run.run_id, resume_input(schema, payload)),
                evidence=upload,
            )
        except tl.LinkRefused as error:  # used a moment ago by a second click
            raise link_refusal(error, language) from None
        except RemediationError as error:  # e.g. the same file given twice: nothing was written
            return self._again(opened, token, posted, [str(error)])
        return self.page.render(
            "done.html",
            language=language,
            recorded="page.cycle_recorded",
            reference=reference,
            recipient=task.recipient,
            role=words(language).get(f"role.{task.role}", role_name(task.role)),
        )

    def _rehearse(
        self, view: dd.CycleView, asked: CycleQuestion, fields: dict[str, Any], link: tl.VerifiedAnswer
    ) -> None:
        from remediation_flows.flows.due_diligence.questions import decide_by_link

        rehearsal = self.page.store.rehearsal()
        if asked.is_approval:
            decide_by_link(rehearsal, view, fields, link)
        else:
            asked.act(rehearsal, view, filled_for(view) | {"step": view.step}, fields, link.recipient)

    def add_routes(self, app: FastAPI) -> None:
        """Serve the cycle's task pages on ``app``."""
        page = self.page

        @app.get("/cycle/{reference}/{question}/{token}", response_class=HTMLResponse)
        def show(reference: str, question: str, token: str, request: Request) -> HTMLResponse:
            if page.address_blocked(request):
                return page.refusal(Refusal(429, "refusal.too_many"), request)
            try:
                return self.show(token, reference, question)
            except Refusal as refusal:
                page.count_refused_look(request)
                return page.refusal(refusal, request)

        @app.post("/cycle/{reference}/{question}/{token}", response_class=HTMLResponse)
        async def answer(reference: str, question: str, token: str, request: Request) -> HTMLResponse:
            body, received, cap = await read_capped(request)
            content_type = request.headers.get("content-type", "")

            def submit() -> HTMLResponse:
                try:
                    page.limit(request, token)
                    if received > cap:
                        opened = self.open(token, reference, question)  # a bad link is refused first
                        raise too_large(opened.language)
                    posted = parse_posted(content_type, body)
                    return self.submit(token, reference, question, posted, request.cookies.get(CSRF_COOKIE))
                except Refusal as refusal:
                    return page.refusal(refusal, request)

            return await run_in_threadpool(submit)
