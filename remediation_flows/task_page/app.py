"""The task page: a person outside the NGO answers one task through the personal link in their email.

GET shows what is asked, about which case reference and site, by when in the site's time, and the
same typed form the Resume dialog shows (generated from the question's RunInput model, without
the fields that say who answers: the link says that). POST applies the answer in the case store
within the request, in one transaction that locks the case, spends the link and runs the core act
the flow would (state, audit and outbox rows), all or nothing; the page then says what the case
waits for next. Only after the commit is the waiting run resumed (a few tries); it finds the
answer applied and moves on to its next wait without doing the step again. If Prefect cannot be
reached, nothing is lost: ``recover-case-lifecycles`` delivers the answer later. Every refusal is a
page with its HTTP status that changes nothing.

Where the question asks for evidence (an enrolment letter, say), the form is multipart and takes
one file, stored under the link's recipient in the same transaction that spends the link; a file
too big is refused with 413, one that is not a PDF, JPEG or PNG by its content with 415. The file's
name is never kept or shown: a person chose it, and it may name the child.

The page speaks the recipient's language (the person's in the programme, else the site's, else the
enterprise's), from the same gettext catalogs as the emails (remediation_flows/core/mail/i18n.py);
Arabic reads right to left. A refusal is worded from the catalogs too (``refusal.*``): in the
recipient's language once the token is known to be real (used, expired, for another task, a form
without its anti-forgery token), else in the request's Accept-Language, else English.

The due-diligence cycle's questions have a page of their own beside this one
(:mod:`remediation_flows.task_page.cycle_tasks`), sharing its CSRF check, limits and refusals.

A stipend payment's link is answered here and nowhere else: no flow run waits for it, so the page
records the payer's confirmation in the case store with the link spent, in one transaction.

No child's identity is read here: only the case view, which carries references.
"""

from __future__ import annotations

import email.parser
import email.policy
import hashlib
import hmac
import logging
import os
import secrets
import threading
import time
import urllib.parse
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape
from prefect.input import RunInput
from pydantic import BaseModel, ValidationError
from sqlalchemy.orm import Session
from starlette.background import BackgroundTask

from remediation_flows.core import casework as cw
from remediation_flows.core import evidence as ev
from remediation_flows.core import task_links as tl
from remediation_flows.core.case_states import CaseState
from remediation_flows.core.casework.stipends import PAYMENT_STEP
from remediation_flows.core.errors import RemediationError
from remediation_flows.core.mail.i18n import LANGUAGES, direction, words
from remediation_flows.core.mail.render import format_instant
from remediation_flows.core.store import CaseStore
from remediation_flows.core.store import repository as repo
from remediation_flows.core.store.schema import TaskLink
from remediation_flows.flows.forms import resume_input
from remediation_flows.flows.prompts import input_key
from remediation_flows.flows.remediation.answers import IDENTITY_FIELDS, StipendPaymentAnswer
from remediation_flows.flows.remediation.artifacts import role_name
from remediation_flows.flows.remediation.stages import (
    Question,
    answer_payload,
    decider_of,
    prompt_key,
    question_for,
)

if TYPE_CHECKING:
    from remediation_flows.task_page.cycle_tasks import CycleTasks

LOGGER = logging.getLogger(__name__)
TEMPLATES = Path(__file__).with_name("templates")
#: Seconds to wait before each try to resume the run after an answer is applied: a run that was
#: between two waits when the answer came is suspended again a moment later.
RESUME_BACKOFF = (0.0, 0.5, 1.5)
#: Signs the anti-forgery token; set it so that a restart (or a second replica) accepts open pages.
SECRET_VARIABLE = "REMEDIATION_TASK_PAGE_SECRET"
CSRF_COOKIE = "task_page_csrf"

#: What a payment link asks: applied by the page itself (see :meth:`TaskPage.confirm_payment`).
PAYMENT_QUESTION = Question(
    state=CaseState.MONITORING,
    step=PAYMENT_STEP,
    key="payment",
    asked_of="the payer",
    form=StipendPaymentAnswer,
    act=cw.confirm_payment,
    report=cw.PaymentConfirmation,
    words="Stipend payment: confirm the amount paid to the family, the day and the payment's reference",
)

REFUSAL_STATUS = {"unknown": 404, "gone": 410, "wrong_task": 403}
EVIDENCE_FIELD = "evidence_file"
EVIDENCE_STATUS = {"too_large": 413, "wrong_type": 415, "empty": 422}
#: What a multipart body may carry beyond the file itself: the answer's fields and the part headers.
FORM_ALLOWANCE = 64 * 1024


class Refusal(Exception):
    """A request the page turns down with ``status`` and a sentence for the person.

    ``key`` names the sentence in the catalogs (``refusal.*``, filled with ``values``) and
    ``title`` the heading (by default ``<key>.title``), so that the page is in the reader's
    language: ``language`` when the link is known (its recipient's), else the request's
    Accept-Language, else English. The exception's own text is the English sentence.
    """

    def __init__(
        self, status: int, key: str, title: str | None = None, *, language: str | None = None, **values: Any
    ) -> None:
        self.status, self.key, self.title_key, self.values = status, key, title or f"{key}.title", values
        self.language = language
        super().__init__(self.message("en"))

    def message(self, language: str) -> str:
        """The refusal's sentence in ``language``."""
        return words(language)[self.key].format(**self.values)

    def title(self, language: str) -> str:
        """The refusal's heading in ``language``."""
        return words(language)[self.title_key]


#: The heading of each reason a link cannot be used (see :class:`task_links.LinkRefused`).
REFUSAL_TITLE = {"unknown": "refusal.unknown.title", "wrong_task": "refusal.wrong_task.title"}


def link_refusal(error: tl.LinkRefused, language: str | None = None) -> Refusal:
    """The page's refusal of a link the store refused, in ``language`` when the link's reader is known."""
    return Refusal(
        REFUSAL_STATUS[error.kind],
        f"refusal.{error.reason}",
        REFUSAL_TITLE.get(error.kind, "refusal.gone.title"),
        language=language or getattr(error, "language", None),
        **error.values,
    )


def accepted_language(header: str | None) -> str | None:
    """The first language of an Accept-Language header that the catalogs serve, by preference."""
    ranked = []
    for position, part in enumerate((header or "").split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                continue
        code = tag.strip().split("-")[0].lower()
        if code in LANGUAGES and quality > 0:
            ranked.append((-quality, position, code))
    return min(ranked)[2] if ranked else None


def check_csrf(expected: str, sent: str | None, cookie: str | None, language: str | None = None) -> None:
    """Refuse a form whose anti-forgery token, in the form and in the cookie, is not the page's."""
    if not (hmac.compare_digest(sent or "", expected) and hmac.compare_digest(cookie or "", expected)):
        raise Refusal(403, "refusal.csrf", language=language)


class AttemptLimiter:
    """At most ``limit`` attempts per key within ``window`` seconds (in memory, per process)."""

    def __init__(self, limit: int, window: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit, self.window, self.clock = limit, window, clock
        self._attempts: dict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def allow(self, key: str) -> bool:
        """Count one attempt for ``key``; False once the limit is reached within the window."""
        now = self.clock()
        with self._lock:
            attempts = self._attempts[key]
            while attempts and now - attempts[0] > self.window:
                attempts.popleft()
            if len(attempts) >= self.limit:
                return False
            attempts.append(now)
            return True

    def blocked(self, key: str) -> bool:
        """Whether ``key`` has reached the limit, without counting an attempt."""
        now = self.clock()
        with self._lock:
            return sum(1 for at in self._attempts.get(key, ()) if now - at <= self.window) >= self.limit


@dataclass(frozen=True)
class WaitingRun:
    """The lifecycle run suspended on the question: its id and the key it waits under."""

    run_id: Any
    key: str


def find_waiting_run(reference: str) -> list[WaitingRun]:
    """The case's lifecycle runs that are suspended now (there is one when a case waits on a person)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterTags

    from remediation_flows.flows.remediation.runs import case_tag

    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(all_=[case_tag(reference)]))
        )
    return [
        WaitingRun(run.id, run.state.state_details.pause_key or "")
        for run in runs
        if run.state is not None and run.state.is_paused()
    ]


def resume_run(run_id: Any, run_input: dict[str, Any]) -> None:
    """Resume the run with the answer as its input, as the Resume dialog does."""
    from prefect.flow_runs import resume_flow_run

    resume_flow_run(run_id, run_input=run_input)


def question_words(question: Question, w: dict[str, str]) -> str:
    """The question's headline in the words ``w`` of the reader's language, placeholders unfilled.

    A question the catalogs do not word (one asked only of staff, in the Prefect UI) keeps the
    flow's English.
    """
    if question.is_approval:
        key = "question.plan_approval" if question.step == "remediation_plan" else f"question.{question.step}"
    else:
        key = f"question.{question.step}"
    return w.get(key, question.words)


def question_text(question: Question, view: cw.CaseView, w: dict[str, str]) -> str:
    """The question as the case asks it now, in the words ``w``: plan number, roles awaited, visit."""

    def roles_in_words(roles: list[str]) -> str:
        return w["list_separator"].join(w.get(f"role.{role}", role_name(role)) for role in roles)

    return question_words(question, w).format(
        plan_id=view.plan_id,
        pending=roles_in_words(view.pending_approvals),
        closure_pending=roles_in_words(view.closure_pending),
        visit=view.visits_done + 1,
        next_plan=view.plans_proposed + 1,
        decision=view.decisions_made + 1,
        visits_done=view.visits_done,
        case_manager=view.case_manager or "",
    )


def _environment() -> Environment:
    return Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]))


@dataclass(frozen=True)
class FormField:
    """One input of the generated form."""

    name: str
    title: str
    description: str
    kind: str  # text, textarea, number, date, checkbox, select
    required: bool
    options: tuple[str, ...] = ()
    value: str = ""


#: pydantic's error types, by the message (``invalid.<kind>``) that words them in the reader's language,
#: with the constraint that fills in ``{limit}``.
_INVALID: dict[str, tuple[str, str | None]] = {
    "missing": ("missing", None),
    "greater_than_equal": ("at_least", "ge"),
    "greater_than": ("more_than", "gt"),
    "less_than_equal": ("at_most", "le"),
    "less_than": ("less_than", "lt"),
    **dict.fromkeys(("int_parsing", "int_from_float", "int_type"), ("whole_number", None)),
    **dict.fromkeys(("float_parsing", "float_type", "decimal_parsing", "decimal_type"), ("number", None)),
    **dict.fromkeys(("bool_parsing", "bool_type"), ("yes_or_no", None)),
    **dict.fromkeys(
        ("date_parsing", "date_type", "date_from_datetime_parsing", "date_from_datetime_inexact"),
        ("date", None),
    ),
    **dict.fromkeys(("enum", "literal_error"), ("choice", None)),
    "string_too_short": ("too_short", "min_length"),
    "string_too_long": ("too_long", "max_length"),
}


def validation_problems(form: type[BaseModel], error: ValidationError, w: dict[str, str]) -> list[str]:
    """Each refused field of ``form`` as "its title: what is wrong", in the language of ``w``.

    The title is the one the page shows for the field; a rule of the form's own (a name that looks
    like a child's, say) keeps the form's message, which names no value.
    """
    titles = {field.name: field.title for field in form_fields(form, w=w)}  # type: ignore[arg-type]
    problems = []
    for problem in error.errors():
        name = str(problem["loc"][0]) if problem["loc"] else ""
        kind, limit = _INVALID.get(problem["type"], (None, None))
        if kind is None:
            message = problem["msg"]
        else:
            bound = (problem.get("ctx") or {}).get(limit or "", "")
            # A float field's bound reads as its whole number: at most 100, not 100.0.
            bound = int(bound) if isinstance(bound, float) and bound.is_integer() else bound
            message = w[f"invalid.{kind}"].format(limit=bound)
        problems.append(f"{titles.get(name, name)}: {message}" if name else message)
    return problems


def form_fields(
    form: type[RunInput], values: dict[str, str] | None = None, w: dict[str, str] | None = None
) -> list[FormField]:
    """The form's fields from its JSON schema (the Resume dialog's source), less the identity fields.

    With a language's words ``w``, a field's title and description are that language's where the
    catalogs word them (``field.<Form>.<name>`` and ``.hint``); else the model's English.
    """
    words_of = w or {}
    schema = form.model_json_schema()
    definitions = schema.get("$defs", {})
    required = set(schema.get("required", []))
    fields = []
    for name, prop in schema["properties"].items():
        if name in IDENTITY_FIELDS:
            continue
        options: tuple[str, ...] = ()
        kind = "text"
        resolved = prop
        if "$ref" in prop:
            resolved = definitions[prop["$ref"].rsplit("/", 1)[-1]]
        if "anyOf" in prop:
            resolved = next((p for p in prop["anyOf"] if p.get("type") != "null"), prop)
        if "enum" in resolved:
            kind, options = "select", tuple(str(o) for o in resolved["enum"])
        elif resolved.get("type") == "boolean":
            kind = "checkbox"
        elif resolved.get("type") in ("number", "integer"):
            kind = "number"
        elif resolved.get("format") == "date":
            kind = "date"
        elif (resolved.get("maxLength") or 0) > 300:
            kind = "textarea"
        default = prop.get("default")
        value = (values or {}).get(name, "" if default is None else str(default))
        fields.append(
            FormField(
                name=name,
                title=words_of.get(f"field.{form.__name__}.{name}", prop.get("title", name)),
                description=words_of.get(f"field.{form.__name__}.{name}.hint", prop.get("description", "")),
                kind=kind,
                required=name in required,
                options=options,
                value=value,
            )
        )
    return fields


def parse_form(body: bytes) -> dict[str, str]:
    """The posted url-encoded form, one value per field (a checkbox posts only when ticked)."""
    posted = urllib.parse.parse_qs(body.decode("utf-8", errors="replace"), keep_blank_values=True)
    return {name: values[-1] for name, values in posted.items()}


@dataclass(frozen=True)
class Posted:
    """A posted form: its fields, one value each, and the evidence file if one was chosen."""

    fields: dict[str, str]
    evidence: bytes | None = None


def too_large(language: str | None = None) -> Refusal:
    """The refusal of a file over the configured limit."""
    return Refusal(413, "refusal.too_large", language=language, limit=f"{ev.max_bytes():,}")


def parse_multipart(content_type: str, body: bytes) -> Posted:
    """A multipart/form-data body, parsed with the standard library's email parser.

    A file input left empty posts a part with an empty file name and no bytes: no file was chosen.
    A field that comes twice keeps its last value, as the url-encoded form does.
    """
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode("latin-1")
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    if not message.is_multipart():
        raise Refusal(400, "refusal.unreadable")
    fields: dict[str, str] = {}
    evidence: bytes | None = None
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        payload = part.get_payload(decode=True)
        content = payload if isinstance(payload, bytes) else b""
        if part.get_filename() is not None:
            if name == EVIDENCE_FIELD and (content or part.get_filename()):
                evidence = content
            continue
        fields[name] = content.decode("utf-8", errors="replace")
    return Posted(fields, evidence)


def parse_posted(content_type: str, body: bytes) -> Posted:
    """The posted form, url-encoded or multipart (a form that carries a file)."""
    if content_type.lower().startswith("multipart/form-data"):
        return parse_multipart(content_type, body)
    return Posted(parse_form(body))


def answer_values(form: type[RunInput], posted: dict[str, str]) -> dict[str, Any]:
    """The posted values typed as the form expects: unticked boxes are False, blanks are absent."""
    values: dict[str, Any] = {}
    for field in form_fields(form):
        raw = posted.get(field.name)
        if field.kind == "checkbox":
            values[field.name] = raw is not None
        elif raw is not None and raw.strip() != "":
            values[field.name] = raw.strip()
    return values


class TaskPage:
    """The app's state: the case store, the limits and the signing secret."""

    def __init__(
        self,
        store: CaseStore | Callable[[], CaseStore],
        *,
        secret: bytes | None = None,
        token_limit: int = 10,
        address_limit: int = 30,
        window_seconds: float = 600,
        find_runs: Callable[[str], list[WaitingRun]] = find_waiting_run,
        resume: Callable[[Any, dict[str, Any]], None] = resume_run,
        resume_backoff: tuple[float, ...] = RESUME_BACKOFF,
    ) -> None:
        self._store = store
        env_secret = os.environ.get(SECRET_VARIABLE)
        self.secret = secret or (env_secret.encode() if env_secret else secrets.token_bytes(32))
        self.per_token = AttemptLimiter(token_limit, window_seconds)
        self.per_address = AttemptLimiter(address_limit, window_seconds)
        self.find_runs = find_runs
        self.resume = resume
        self.resume_backoff = resume_backoff
        self.templates = _environment()

    @property
    def store(self) -> CaseStore:
        if callable(self._store) and not isinstance(self._store, CaseStore):
            self._store = self._store()
        return self._store

    def csrf_token(self, token: str) -> str:
        """The anti-forgery token of a link's page: a keyed hash of the link, never the link itself."""
        return hmac.new(self.secret, b"csrf:" + tl.hash_token(token).encode(), hashlib.sha256).hexdigest()

    def render(self, template: str, status: int = 200, **context: Any) -> HTMLResponse:
        """``template`` filled with ``context``, in ``context['language']`` (English if none is given)."""
        language = context.pop("language", None) or "en"
        context |= {"language": language, "direction": direction(language), "w": words(language)}
        return HTMLResponse(self.templates.get_template(template).render(**context), status_code=status)

    def language_of(self, task: tl.LinkTask, view: cw.CaseView) -> str:
        """The language the link's recipient reads: their own, else their site's, else the enterprise's."""
        with self.store.reading() as session:
            programme = repo.programme_of(session, repo.get_case(session, view.reference))
            return programme.language_of(task.recipient, view.site_id)

    def refusal(self, error: Refusal, request: Request | None = None) -> HTMLResponse:
        """The refusal's page, in the link's reader's language, else the request's, else English."""
        asked = accepted_language(request.headers.get("accept-language")) if request is not None else None
        language = error.language or asked or "en"
        return self.render(
            "refusal.html",
            error.status,
            language=language,
            title=error.title(language),
            message=error.message(language),
        )

    def limit(self, request: Request, token: str) -> None:
        """Count an attempt on the link from the request's address; refused past either limit."""
        address = request.client.host if request.client else "unknown"
        if not self.per_address.allow("address:" + address) or not self.per_token.allow(
            "token:" + tl.hash_token(token)
        ):
            raise Refusal(429, "refusal.too_many")

    def address_blocked(self, request: Request) -> bool:
        """Whether the request's address has used up its attempts (a look does not count one)."""
        return self.per_address.blocked("address:" + (request.client.host if request.client else "unknown"))

    def count_refused_look(self, request: Request) -> None:
        """A refused look counts, so that tokens cannot be guessed by GET."""
        self.per_address.allow("address:" + (request.client.host if request.client else "unknown"))

    def open_task(self, token: str, reference: str, step: str) -> tuple[tl.LinkTask, cw.CaseView, Question]:
        """The link's task and the question the case asks now; a :class:`Refusal` if it cannot be answered."""
        try:
            task = tl.read_link(self.store, token, reference, step)
        except tl.LinkRefused as error:
            raise link_refusal(error) from None
        view = cw.case_view(self.store, reference)
        if task.step == PAYMENT_STEP:
            return task, view, PAYMENT_QUESTION  # the link's own payment, whatever the lifecycle asks
        question = question_for(view)
        if question is None or not self._asks(question, view, task):
            raise Refusal(409, "refusal.not_waiting", language=self.language_of(task, view))
        return task, view, question

    @staticmethod
    def _asks(question: Question, view: cw.CaseView, task: tl.LinkTask) -> bool:
        steps = (question.step, *question.also_due_under)
        if task.step not in steps:
            return False
        if question.is_approval:
            pending = view.pending_approvals if task.step == "remediation_plan" else view.closure_pending
            subject = f"plan {view.plan_id}" if task.step == "remediation_plan" else "closure"
            return task.subject == subject and task.role in pending
        return task.subject == ""

    def page_context(
        self, task: tl.LinkTask, view: cw.CaseView, question: Question, token: str, **extra: Any
    ) -> dict[str, Any]:
        milestone = next((m for m in view.open_milestones if m.step == task.step), None)
        with self.store.reading() as session:
            programme = repo.programme_of(session, repo.get_case(session, view.reference))
            zone = programme.site(view.site_id).time_zone
            language = programme.language_of(task.recipient, view.site_id)
        w = words(language)
        return {
            "language": language,
            "reference": view.reference,
            "site": f"{view.site_name} ({view.site_id})",
            "enterprise": view.enterprise_id,
            "question": question_text(question, view, w),
            "due": format_instant(milestone.due_at if milestone else task.due_at, zone, language),
            "recipient": task.recipient,
            "role": w.get(f"role.{task.role}", role_name(task.role)),
            "fields": extra.pop("fields", None) or form_fields(question.form, w=w),
            "csrf": self.csrf_token(token),
            "errors": extra.pop("errors", []),
            "evidence": w.get(f"evidence.{question.step}", question.evidence) if question.evidence else "",
            "evidence_limit": f"{ev.max_bytes() / (1024 * 1024):g} MB",
            **extra,
        }

    def submit(
        self,
        token: str,
        reference: str,
        step: str,
        posted: dict[str, str] | Posted,
        csrf_cookie: str | None,
    ) -> HTMLResponse:
        form = posted if isinstance(posted, Posted) else Posted(posted)
        posted = form.fields
        task, view, question = self.open_task(token, reference, step)
        language = self.language_of(task, view)
        check_csrf(self.csrf_token(token), posted.get("csrf"), csrf_cookie, language)
        if question is PAYMENT_QUESTION:
            return self.confirm_payment(token, reference, task, view, posted)
        upload = evidence_upload(form, bool(question.evidence), language)
        values = answer_values(question.form, posted)
        identity: dict[str, Any] = {"answered_by": task.recipient}
        if question.is_approval:
            identity["role"] = task.role
        try:
            answer = question.form.model_validate(values | identity)
        except ValidationError as error:
            problems = validation_problems(question.form, error, words(language))
            return self._form_again(task, view, question, token, posted, problems)
        payload = answer_payload(answer)
        link = tl.VerifiedAnswer(task.link_id, task.recipient, task.role, payload)
        if upload is not None:
            try:
                ev.check_evidence(upload.content, upload.source)
            except ev.EvidenceRefused as refused:
                return self._form_again(
                    task, view, question, token, posted, [str(refused)], EVIDENCE_STATUS[refused.kind]
                )
        answered: list[tuple[str, cw.CaseView]] = []

        def apply(session: Session, link_row: TaskLink, *_: object) -> None:
            # Read again under the case's lock: the flow (or another link) may have moved the case
            # since the page was read, and the key the run waits under counts refused answers.
            within = self.store.within(session)
            now_asked = cw.case_view(within, reference)
            if question_for(now_asked) is not question or not self._asks(question, now_asked, task):
                raise Refusal(409, "refusal.not_waiting", language=self.language_of(task, now_asked))
            key = input_key(within, prompt_key(now_asked, question))
            link_row.answered_key = key
            answered.append((key, question.apply(within, reference, answer, link)))

        try:
            tl.use_link(
                self.store,
                token,
                reference,
                step,
                answered_key="",  # set under the lock by apply
                answer=payload,
                evidence=upload,
                apply=apply,
            )
        except tl.LinkRefused as error:  # used a moment ago by a second click
            raise link_refusal(error, language) from None
        except RemediationError as error:  # the core's rule, or the same file given twice: nothing written
            return self._form_again(task, view, question, token, posted, [str(error)])
        [(key, after)] = answered
        decider = decider_of(answer, link)
        done = self.next_step(task, reference, after)
        response = self.render("done.html", **done, recipient=decider.person)
        run_input = resume_input(question.form.model_json_schema(), payload)
        response.background = BackgroundTask(self.deliver, reference, key, run_input)
        return response

    def next_step(self, task: tl.LinkTask, reference: str, view: cw.CaseView | None = None) -> dict[str, Any]:
        """What the done page says: the reader's language, their role, and what the case waits for now.

        ``view`` is the case as the applied act left it (committed), else it is read.
        """
        view = view or cw.case_view(self.store, reference)
        with self.store.reading() as session:
            programme = repo.programme_of(session, repo.get_case(session, reference))
            language = programme.language_of(task.recipient, view.site_id)
            zone = programme.site(view.site_id).time_zone
        w = words(language)
        context: dict[str, Any] = {
            "language": language,
            "reference": reference,
            "role": w.get(f"role.{task.role}", role_name(task.role)),
            "closed": view.is_finished,
            "next_step": "",
            "next_due": "",
        }
        question = None if view.is_finished else question_for(view)
        if question is not None:
            context["next_step"] = question_text(question, view, w)
            milestone = next(
                (m for s in (question.step, *question.also_due_under) if (m := view.milestone(s))), None
            )
            if milestone is not None:
                context["next_due"] = format_instant(milestone.due_at, zone, language)
        return context

    def deliver(self, reference: str, key: str, run_input: dict[str, Any]) -> bool:
        """Resume the run waiting under ``key`` with the answer already applied; True if it was resumed.

        Runs after the response: the person has their answer recorded whatever happens here. A run
        not found may be between two waits, so it is looked for again after a short pause; after the
        last try the answer waits for ``recover-case-lifecycles`` to redeliver it.
        """
        for attempt, pause in enumerate(self.resume_backoff, start=1):
            time.sleep(pause)
            try:
                run = next((r for r in self.find_runs(reference) if r.key == key), None)
                if run is not None:
                    self.resume(run.run_id, run_input)
                    return True
            except Exception as error:  # Prefect unreachable, or the run moved on: try again
                # The error's name only: a server's validation message may quote the answer.
                LOGGER.warning(
                    "%s: resuming the run waiting under %s failed (try %d): %s",
                    reference,
                    key,
                    attempt,
                    type(error).__name__,
                )
        LOGGER.warning(
            "%s: the answer is applied but no run waiting under %s was resumed; recovery delivers it",
            reference,
            key,
        )
        return False

    def confirm_payment(
        self, token: str, reference: str, task: tl.LinkTask, view: cw.CaseView, posted: dict[str, str]
    ) -> HTMLResponse:
        """Record the payer's confirmation (verified by the link) and spend the link, in one transaction."""
        identity = {"answered_by": task.recipient, "on_behalf_of": task.recipient}
        try:
            answer = StipendPaymentAnswer.model_validate(
                answer_values(StipendPaymentAnswer, posted) | identity
            )
        except ValidationError as error:
            words_of = words(self.language_of(task, view))
            problems = validation_problems(StipendPaymentAnswer, error, words_of)
            return self._form_again(task, view, PAYMENT_QUESTION, token, posted, problems)
        confirmation = cw.PaymentConfirmation(
            Decimal(str(answer.amount)), answer.currency, answer.paid_on, answer.payment_reference
        )
        try:
            cw.confirm_payment_by_link(self.store, token, reference, confirmation)
        except tl.LinkRefused as error:  # used a moment ago by a second click
            raise link_refusal(error, self.language_of(task, view)) from None
        except RemediationError as error:
            return self._form_again(task, view, PAYMENT_QUESTION, token, posted, [str(error)])
        return self.render("done.html", **self.next_step(task, reference), recipient=task.recipient)

    def _form_again(
        self,
        task: tl.LinkTask,
        view: cw.CaseView,
        question: Question,
        token: str,
        posted: dict[str, str],
        problems: list[str],
        status: int = 422,
    ) -> HTMLResponse:
        language = self.language_of(task, view)
        fields = form_fields(
            question.form, {k: v for k, v in posted.items() if k != "csrf"}, w=words(language)
        )
        context = self.page_context(task, view, question, token, fields=fields, errors=problems)
        response = self.render("task.html", status, **context)
        response.set_cookie(CSRF_COOKIE, context["csrf"], httponly=True, samesite="strict")
        return response


async def read_capped(request: Request) -> tuple[bytes, int, int]:
    """The posted body, read no further than a file at the limit and its form: (body, bytes seen, cap).

    A bigger body is refused unread: the caller compares the bytes seen with the cap.
    """
    cap = ev.max_bytes() + FORM_ALLOWANCE
    chunks: list[bytes] = []
    received = 0
    async for chunk in request.stream():
        received += len(chunk)
        if received > cap:
            break
        chunks.append(chunk)
    return b"".join(chunks), received, cap


def evidence_upload(form: Posted, takes_evidence: bool, language: str | None) -> ev.EvidenceUpload | None:
    """The file posted with the answer, if any; refused when the task takes none."""
    if form.evidence is None:
        return None
    if not takes_evidence:
        raise Refusal(400, "refusal.no_file", language=language)
    return ev.EvidenceUpload(form.evidence, "evidence file")


def create_app(page: TaskPage, cycle: CycleTasks | None = None) -> FastAPI:
    """The ASGI app serving ``page``, and the due-diligence cycle's task pages beside it."""
    app = FastAPI(title="Remediation task page", docs_url=None, redoc_url=None, openapi_url=None)

    @app.get("/tasks/{reference}/{step}/{token}", response_class=HTMLResponse)
    def show(reference: str, step: str, token: str, request: Request) -> HTMLResponse:
        if page.address_blocked(request):
            return page.refusal(Refusal(429, "refusal.too_many"), request)
        try:
            task, view, question = page.open_task(token, reference, step)
        except Refusal as refusal:
            page.count_refused_look(request)
            return page.refusal(refusal, request)
        context = page.page_context(task, view, question, token)
        response = page.render("task.html", **context)
        response.set_cookie(CSRF_COOKIE, context["csrf"], httponly=True, samesite="strict")
        return response

    @app.post("/tasks/{reference}/{step}/{token}", response_class=HTMLResponse)
    async def answer(reference: str, step: str, token: str, request: Request) -> HTMLResponse:
        body, received, cap = await read_capped(request)
        content_type = request.headers.get("content-type", "")

        def submit() -> HTMLResponse:
            try:
                page.limit(request, token)
                if received > cap:
                    task, view, _ = page.open_task(token, reference, step)  # a bad link is refused first
                    raise too_large(page.language_of(task, view))
                posted = parse_posted(content_type, body)
                return page.submit(token, reference, step, posted, request.cookies.get(CSRF_COOKIE))
            except Refusal as refusal:
                return page.refusal(refusal, request)

        return await run_in_threadpool(submit)

    from remediation_flows.task_page.cycle_tasks import CycleTasks

    (cycle or CycleTasks(page)).add_routes(app)

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    return app
