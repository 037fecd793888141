"""Render emails from Jinja2 templates in the recipient's language (see :mod:`.i18n` for the catalogs).

Every email names the case by its reference only; callers never pass a child's
identity, and :mod:`tests` check that none reaches an email.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import TypedDict
from zoneinfo import ZoneInfo

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import escape

from remediation_flows.core.config.model import Programme, Role
from remediation_flows.core.mail.calendar import calendar_entry
from remediation_flows.core.mail.i18n import Text, direction, format_due, in_language, step_title, words


class OutboxFields(TypedDict):
    """The message fields of ``repository.enqueue_mail``, typed for ``**``."""

    subject: str
    body_text: str
    body_html: str
    calendar_ics: str | None


@dataclass(frozen=True)
class RenderedMail:
    """Subject, plain text, HTML and an optional .ics entry, ready for the outbox."""

    subject: str
    text: str
    html: str
    calendar_ics: str | None = None

    def outbox_fields(self) -> OutboxFields:
        """The keyword arguments of :func:`remediation_flows.core.store.repository.enqueue_mail` it fills."""
        return {
            "subject": self.subject,
            "body_text": self.text,
            "body_html": self.html,
            "calendar_ics": self.calendar_ics,
        }


@cache
def _environment() -> Environment:
    return Environment(
        loader=PackageLoader("remediation_flows.core.mail", "templates"),
        autoescape=select_autoescape(["html", "html.j2"], default_for_string=False),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        auto_reload=False,  # templates ship with the package; no stat() per render
    )


def format_instant(instant: dt.datetime, zone: str, language: str | None = None) -> str:
    """An instant as a person at the site reads it: local date and time, zone and offset.

    With ``language``, the date and time are written as that language's locale writes them (an
    email, a task page); without, as ISO digits (the staff's board, the artifacts and the CLI).
    """
    if language is not None:
        return format_due(instant, zone, language)
    local = instant.astimezone(ZoneInfo(zone))
    offset = local.strftime("%z")
    return f"{local:%Y-%m-%d %H:%M} ({zone}, UTC{offset[:3]}:{offset[3:]})"


def render_notice(
    language: str, subject: str, lead: str, facts: list[tuple[str, str]], action: str
) -> tuple[str, str]:
    """The plain-text and HTML bodies of one notice."""
    context: dict[str, object] = {
        "w": words(language),
        "language": language,
        "direction": direction(language),
        "subject": subject,
        "lead": lead,
    }
    context |= {"facts": facts, "action": action}
    env = _environment()
    return env.get_template("notice.txt.j2").render(context), env.get_template("notice.html.j2").render(
        context
    )


def _contact_line(programme: Programme, role: Role, site_id: str) -> str:
    people = programme.people_for(role, site_id)
    return ", ".join(f"{p.name} <{p.email}>" for p in people)


@dataclass(frozen=True)
class _StepNotice:
    """What every notice about one step at one site starts from."""

    w: dict[str, str]
    language: str
    site_line: str
    time_zone: str
    title: str
    due_text: str
    #: The due date and time without the zone, for a subject line.
    due_short: str


def _step_notice(
    programme: Programme, site_id: str, step: str, due_at: dt.datetime, language: str | None = None
) -> _StepNotice:
    site = programme.site(site_id)
    language = language or site.language or programme.language
    return _StepNotice(
        words(language),
        language,
        f"{site.name} ({site.id})",
        site.time_zone,
        step_title(language, step),
        *_due_texts(due_at, site.time_zone, language),
    )


@lru_cache(maxsize=4096)
def _due_texts(due_at: dt.datetime, zone: str, language: str) -> tuple[str, str]:
    """The due date in ``language`` at the site: in full (zone and offset), and short for a subject.

    Remembered: a sweep words thousands of due dates, most of them shared (deadlines fall at the
    end of a site's day), and Babel's formatting was a fifth of the sweep's Python time.
    """
    due_text = format_instant(due_at, zone, language)
    return due_text, due_text.rsplit(" (", 1)[0]


def task_mail(
    programme: Programme,
    *,
    reference: str,
    site_id: str,
    step: str,
    instructions: str | Text,
    due_at: dt.datetime,
    contact_role: Role = Role.CASE_MANAGER,
    calendar_uid: str,
    language: str | None = None,
    task_link: str | None = None,
) -> RenderedMail:
    """An enterprise's task: what to do, by when (site time), the case, whom to contact; with .ics.

    ``task_link`` is the recipient's personal task page, for a message to that one person only.
    ``instructions`` given as :class:`Text` are worded in the email's language; a plain string
    (free text a person wrote) is shown as written. Like :func:`escalation_mail`, a task email
    without a link is filled into a template rendered once per programme version, site, step,
    instructions, contact and language.
    """
    reader = language or programme.site(site_id).language or programme.language
    title = step_title(reader, step)
    instructions = in_language(instructions, reader)
    ics = calendar_entry(
        uid=calendar_uid,
        summary=f"{reference}: {title}",
        description=instructions,
        due_at=due_at,
        language=reader,
    )

    def render(reference: str, due_at: dt.datetime, due_texts: tuple[str, str] | None = None) -> RenderedMail:
        return _render_task(
            programme,
            reference=reference,
            site_id=site_id,
            step=step,
            instructions=instructions,
            due_at=due_at,
            contact_role=contact_role,
            language=language,
            task_link=task_link,
            due_texts=due_texts,
        )

    if task_link is not None or not programme.fingerprint or "\ue000" in instructions:
        mail = render(reference, due_at)
    else:
        key = ("task", programme.fingerprint, site_id, step, instructions, contact_role, language)
        template = _template(key, lambda: render(_CASE, _ANY_INSTANT, (_DUE, _DUE_SHORT)), programme, site_id)
        mail = template.fill(_values(template, reference, due_at, 0))
    return RenderedMail(mail.subject, mail.text, mail.html, ics)


def _render_task(
    programme: Programme,
    *,
    reference: str,
    site_id: str,
    step: str,
    instructions: str,
    due_at: dt.datetime,
    contact_role: Role,
    language: str | None,
    task_link: str | None,
    due_texts: tuple[str, str] | None = None,
) -> RenderedMail:
    """:func:`task_mail`'s subject and bodies rendered by Jinja from scratch (no calendar entry)."""
    notice = _step_notice(programme, site_id, step, due_at, language)
    w, title = notice.w, notice.title
    due_text, due_short = due_texts or (notice.due_text, notice.due_short)
    subject = w["task_subject"].format(case=reference, title=title, due=due_short)
    facts = [
        (w["case"], reference),
        (w["site"], notice.site_line),
        (w["what"], instructions),
        (w["due"], due_text),
        (w["contact"], _contact_line(programme, contact_role, site_id)),
    ]
    if task_link is not None:
        facts.append((w["task_link"], task_link))
    text, html = render_notice(notice.language, subject, w["task_lead"], facts, w["task_action"])
    return RenderedMail(subject, text, html)


def escalation_mail(
    programme: Programme,
    *,
    reference: str,
    site_id: str,
    step: str,
    due_at: dt.datetime,
    owner_role: str,
    working_days_late: int,
    stage: str,
    language: str | None = None,
) -> RenderedMail:
    """A ladder level's email; ``stage`` is 'reminder' (before due), 'due' (at due) or 'overdue'.

    The sweep writes thousands of these at once, most alike but for the case, the due date and the
    lateness: the templates are rendered once per programme version, site, step, owner, stage and
    language with markers where those three go, and each email fills the markers in (escaped in
    the HTML as Jinja would have). The same as :func:`_render_escalation`, which a test checks.
    """
    if not programme.fingerprint:
        # Only a loaded programme names its version; any other is rendered afresh each time.
        return _render_escalation(
            programme,
            reference=reference,
            site_id=site_id,
            step=step,
            due_at=due_at,
            owner_role=owner_role,
            working_days_late=working_days_late,
            stage=stage,
            language=language,
        )
    key = ("escalation", programme.fingerprint, site_id, step, owner_role, stage, language)
    template = _template(
        key,
        lambda: _render_escalation(
            programme,
            reference=_CASE,
            site_id=site_id,
            step=step,
            due_at=_ANY_INSTANT,
            owner_role=owner_role,
            working_days_late=0,
            stage=stage,
            language=language,
            due_texts=(_DUE, _DUE_SHORT),
            late_text=_LATE,
        ),
        programme,
        site_id,
    )
    return template.fill(_values(template, reference, due_at, working_days_late))


#: Markers the templates are rendered with: private-use characters no word, template or HTML
#: escaping contains, so that each stands for exactly one value.
_CASE, _DUE = "\ue000case\ue001", "\ue000due\ue001"
_DUE_SHORT, _LATE = "\ue000short\ue001", "\ue000late\ue001"
_MARKER_FIELDS = {_CASE: "case", _DUE: "due", _DUE_SHORT: "due_short", _LATE: "late"}
_TEMPLATES_KEPT = 4096
_TEMPLATES: dict[tuple[str | None, ...], _MailTemplate] = {}
#: Any instant renders a template: the due date's text is a marker, and its zone the site's.
_ANY_INSTANT = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)


@dataclass(frozen=True)
class _MailTemplate:
    """A rendered email whose markers became format fields: subject, text and HTML."""

    time_zone: str
    #: The language the email is worded in, whose locale writes the due date filled in.
    language: str
    subject: str
    text: str
    html: str

    @staticmethod
    def fields(rendered: str) -> str:
        """``rendered`` as a format string: its own braces doubled, each marker a named field."""
        fields = rendered.replace("{", "{{").replace("}", "}}")
        for marker, name in _MARKER_FIELDS.items():
            fields = fields.replace(marker, "{" + name + "}")
        return fields

    def fill(self, values: dict[str, str]) -> RenderedMail:
        # Jinja escapes every value in the HTML; so must the filling in, alike.
        escaped = {name: str(escape(value)) for name, value in values.items()}
        return RenderedMail(
            self.subject.format_map(values), self.text.format_map(values), self.html.format_map(escaped)
        )


def _template(
    key: tuple[str | None, ...], render: Callable[[], RenderedMail], programme: Programme, site_id: str
) -> _MailTemplate:
    """The template under ``key`` (whose last item is the language asked for, if any), rendered
    (with markers) by ``render`` the first time."""
    template = _TEMPLATES.get(key)
    if template is None:
        if len(_TEMPLATES) >= _TEMPLATES_KEPT:
            _TEMPLATES.clear()
        mail = render()
        fields = _MailTemplate.fields
        site = programme.site(site_id)
        language = str(key[-1] or site.language or programme.language)
        template = _TEMPLATES[key] = _MailTemplate(
            site.time_zone, language, fields(mail.subject), fields(mail.text), fields(mail.html)
        )
    return template


def _values(template: _MailTemplate, reference: str, due_at: dt.datetime, late: int) -> dict[str, str]:
    due_text, due_short = _due_texts(due_at, template.time_zone, template.language)
    return {"case": reference, "due": due_text, "due_short": due_short, "late": str(late)}


def _render_escalation(
    programme: Programme,
    *,
    reference: str,
    site_id: str,
    step: str,
    due_at: dt.datetime,
    owner_role: str,
    working_days_late: int,
    stage: str,
    language: str | None = None,
    due_texts: tuple[str, str] | None = None,
    late_text: str | None = None,
) -> RenderedMail:
    """:func:`escalation_mail` rendered by Jinja from scratch (``due_texts``/``late_text`` replace
    the due date's long and short text and the lateness, for a template)."""
    notice = _step_notice(programme, site_id, step, due_at, language)
    w, title = notice.w, notice.title
    due_text, due_short = due_texts or (notice.due_text, notice.due_short)
    late = str(working_days_late) if late_text is None else late_text
    subject = w[f"{stage}_subject"].format(case=reference, title=title, due=due_short, late=late)
    facts = [
        (w["case"], reference),
        (w["site"], notice.site_line),
        (w["what"], title),
        (w["due"], due_text),
        (w["owner"], w.get(f"role.{owner_role}", owner_role)),
    ]
    if stage == "overdue":
        facts.append((w["late"], late))
    text, html = render_notice(notice.language, subject, w[f"{stage}_lead"], facts, w["escalation_action"])
    return RenderedMail(subject, text, html)


def extension_mail(
    programme: Programme,
    *,
    reference: str,
    site_id: str,
    step: str,
    previous_due_at: dt.datetime,
    new_due_at: dt.datetime,
    reason: str,
    calendar_uid: str,
    language: str | None = None,
) -> RenderedMail:
    """Tells the enterprise that a deadline moved, with the updated calendar entry."""
    notice = _step_notice(programme, site_id, step, new_due_at, language)
    w, title = notice.w, notice.title
    subject = w["extension_subject"].format(case=reference, title=title, due=notice.due_short)
    facts = [
        (w["case"], reference),
        (w["site"], notice.site_line),
        (w["what"], title),
        (w["previous_due"], format_instant(previous_due_at, notice.time_zone, notice.language)),
        (w["due"], notice.due_text),
        (w["reason"], reason),
    ]
    text, html = render_notice(notice.language, subject, w["extension_lead"], facts, w["extension_action"])
    ics = calendar_entry(
        uid=calendar_uid,
        summary=f"{reference}: {title}",
        description=reason,
        due_at=new_due_at,
        sequence=1,
        language=notice.language,
    )
    return RenderedMail(subject, text, html, ics)


def delivery_failed_mail(
    language: str, *, subject: str, recipients: list[str], error: str, reference: str | None
) -> RenderedMail:
    """Tells the program manager that an email could not be delivered."""
    w = words(language)
    failed_subject = w["failed_subject"].format(subject=subject)
    facts = [(w["recipients"], ", ".join(recipients)), (w["error"], error)]
    if reference:
        facts.insert(0, (w["case"], reference))
    text, html = render_notice(language, failed_subject, w["failed_lead"], facts, w["failed_action"])
    return RenderedMail(failed_subject, text, html)


def unplaceable_ladder_mail(language: str, *, milestone_key: str, problem: str) -> RenderedMail:
    """Tells the program manager that the sweep cannot place a milestone's ladder, so nothing fires."""
    w = words(language)
    subject = w["unplaceable_subject"].format(key=milestone_key)
    facts = [(w["milestone"], milestone_key), (w["problem"], problem)]
    text, html = render_notice(language, subject, w["unplaceable_lead"], facts, w["unplaceable_action"])
    return RenderedMail(subject, text, html)
