"""The words of every email and of the task page, in the twelve languages of the countries served.

English is the source: :data:`ENGLISH` below names every message by a key. Every language,
English included, has a gettext catalog, ``locales/<code>/LC_MESSAGES/messages.po`` next to this
file, whose entries carry the key as ``msgctxt``, the English sentence as ``msgid`` and the
translation as ``msgstr``. The catalogs ship in the wheel as text and are compiled in memory on
first use (Babel reads them; nothing is downloaded or built at install time). An entry missing,
untranslated or marked fuzzy reads in English, which ``tests/unit/test_catalogs.py`` refuses.

Adding a message, the one place to do it:

1. add ``"key": "English sentence with {placeholders}"`` to :data:`ENGLISH`;
2. run ``python -m remediation_flows.core.mail.i18n``: it rewrites ``locales/messages.pot`` and
   merges it into every catalog (a new message arrives untranslated; one whose English changed
   is marked fuzzy, so that its old translation is no longer used);
3. write the ``msgstr`` of the new entry in each ``messages.po`` (the English catalog fills
   itself). ``tests/unit/test_catalogs.py`` names every catalog still missing it, and every
   translation whose ``{placeholders}`` differ from the English.

A branch written before the catalogs (its messages in a dict ``STRINGS``): add its English to
:data:`ENGLISH`, then ``python -m remediation_flows.core.mail.i18n --adopt OLD_I18N.py`` takes its
other languages' sentences into the catalogs (see :func:`adopt_translations`).

Each catalog's header says whether a native speaker has reviewed it (``Native-speaker review:``);
the README's Languages section lists them.
"""

from __future__ import annotations

import datetime as dt
import gettext
import io
import re
import string
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_date, format_time, get_datetime_format
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

from remediation_flows.core.money import Money

#: Every language an email or a task page is written in: code -> the Babel locale it formats with.
#: The programme schema's ``language`` list is the same (a unit test compares the two).
LANGUAGES: dict[str, str] = {
    "en": "en",  # English
    "es": "es",  # Spanish
    "zh": "zh_Hans",  # Simplified Chinese
    "bn": "bn",  # Bengali
    "km": "km",  # Khmer
    "ar": "ar",  # Arabic, written right to left
    "hi": "hi",  # Hindi
    "id": "id",  # Indonesian
    "lo": "lo",  # Lao
    "my": "my",  # Burmese
    "tr": "tr",  # Turkish
    "vi": "vi",  # Vietnamese
}
LOCALES = Path(__file__).with_name("locales")
DOMAIN = "messages"
REVIEW_LINE = re.compile(r"^# Native-speaker review: (?P<review>.+)$", re.MULTILINE)

#: Every message in English, by key: the source of every catalog (see the module's docstring).
ENGLISH: dict[str, str] = {
    # Emails: the frame of every notice.
    "greeting": "Hello,",
    "footer": (
        "This message was sent by the remediation programme. It names the case only by its "
        "reference; never reply with a child's personal details."
    ),
    "case": "Case reference",
    "site": "Site",
    "what": "What to do",
    "due": "Due by",
    "contact": "Contact",
    "owner": "Who must act",
    "late": "Working days overdue",
    "reason": "Reason",
    "previous_due": "Previous due date",
    "task_link": "Your personal task page (works once, only for you)",
    "problem": "Problem",
    "milestone": "Milestone",
    "recipients": "Recipients",
    "error": "Last error",
    "cycle": "Due-diligence cycle",
    # Emails: subjects, leads and actions by kind.
    "task_subject": "[{case}] Task: {title}, due {due}",
    "task_lead": "A remediation task needs your action.",
    "task_action": "Please complete it by the date above and reply to the contact when it is done.",
    "reminder_subject": "[{case}] Reminder: {title} is due {due}",
    "reminder_lead": "This is a reminder: the milestone below is due soon.",
    "due_subject": "[{case}] Due now: {title}",
    "due_lead": "The milestone below has reached its due date and is not yet done.",
    "overdue_subject": "[{case}] Overdue by {late} working day(s): {title}",
    "overdue_lead": "The milestone below is overdue and has been escalated to you.",
    "escalation_action": "Please act on it now or ask the program manager for an extension.",
    "extension_subject": "[{case}] New due date for {title}: {due}",
    "extension_lead": "The due date of the milestone below has been moved.",
    "extension_action": "Reminders and escalation now follow the new date.",
    "failed_subject": "Undelivered email: {subject}",
    "failed_lead": "An email could not be delivered after every retry.",
    "failed_action": "Please check the addresses and the mail server, then contact the recipients.",
    "unplaceable_subject": "Escalation stopped for {key}: cannot place its ladder",
    "unplaceable_lead": (
        "The escalation sweep cannot compute this milestone's ladder, so no reminder or escalation can "
        "fire for it until this is fixed. The sweep tries again every time it runs."
    ),
    "unplaceable_action": (
        "Please check the enterprise's programme (its sites and steps) and register a valid version."
    ),
    # Instructions: what a task email asks (casework passes them as Text, see text()).
    "instr.link_reissued": "A new personal link replaces the one sent before, which no longer works.",
    "instr.remove_from_work": (
        "Remove the child from all work at once and keep the child in a safe place. Do not dismiss the "
        "child or family members. The case manager will carry out the on-site assessment by the due "
        "date; please cooperate with the age verification."
    ),
    "instr.on_site_assessment": (
        "Carry out the on-site assessment: verify the age discreetly, interview the child and guardian, "
        "obtain their consent and record the outcome."
    ),
    "instr.remediation_plan": (
        "Draft the remediation plan with the child, the guardian, the supplier and the school, "
        "and submit it for approval."
    ),
    "instr.review_plan": (
        "Review the proposed remediation plan ({pathway}; monthly stipend {stipend}; "
        "school fees {fees}; paid by {payer}) and record your decision."
    ),
    "instr.school_reintegration": (
        "Confirm the child's enrolment ({pathway}) and send the enrolment letter to the case manager. "
        "The monthly stipend of {stipend} is asked of its payer month by month, each payment confirmed "
        "with its reference."
    ),
    "instr.young_worker_protection": (
        "Move the young worker out of hazardous tasks, end night shifts and cut working hours to the "
        "legal limit; confirm each measure to the case manager."
    ),
    "instr.follow_up_visit": (
        "Carry out follow-up visit {number}: check school attendance, the stipend payments and that "
        "the child has not returned to work."
    ),
    "instr.stipend_payment": (
        "Pay {title} {number} of {amount} to the family by the date above, then confirm the payment with its "
        "amount, date and reference (bank transfer, mobile money or receipt number)."
    ),
    "instr.closure": "Review the case for closure and record your decision.",
    "instr.back_at_work": (
        "The child was found working again at a follow-up visit. The case is re-opened and a new "
        "remediation plan is due."
    ),
    "instr.plan_rejected": "The remediation plan was not approved ({comment}). Please revise and resubmit it.",
    "instr.due_diligence": (
        "Carry out this step of the {year} child-labour due-diligence cycle and record it in the programme."
    ),
    # The step owner's notice when a cycle's step opens: the questions come with links of their own.
    "instr.due_diligence_opened": (
        "This step of the {year} child-labour due-diligence cycle is now open. Each of its questions "
        "comes in an email of its own, with a personal link for the person who answers it."
    ),
    "instr.site_reassessment": "A new case was opened at site {site}: reassess the site's child-labour risk.",
    # What a plan's pathway and payer are called in an instruction ({pathway}, {payer}).
    "pathway.schooling": "schooling",
    "pathway.vocational_training": "vocational training",
    "pathway.young_worker_protection": "young-worker protection",
    "payer.supplier": "the supplier",
    "payer.brand": "the brand",
    "payer.shared": "the supplier and the brand together",
    "payer.ngo": "the NGO",
    # Between the items of a list (the roles a decision awaits): Arabic, Chinese and Burmese have their own commas.
    "list_separator": ", ",
    # Roles.
    "role.enterprise_focal_point": "enterprise focal point",
    "role.enterprise_leadership": "enterprise leadership",
    "role.program_manager": "program manager",
    "role.case_manager": "case manager",
    "role.supervisor": "supervisor",
    "role.director": "director",
    # Steps of the lifecycle and of the due-diligence cycle.
    "step.on_site_assessment": "On-site assessment",
    "step.remediation_plan": "Remediation plan",
    "step.school_reintegration": "School reintegration",
    "step.young_worker_protection": "Young-worker protection",
    "step.follow_up_visit": "Follow-up visit",
    "step.closure": "Case closure",
    "step.stipend_payment": "Stipend payment",
    "step.stipend": "Monthly stipend",
    "step.interim_support": "Interim support",
    "step.risk_assessment": "Risk assessment",
    "step.policies_and_procedures": "Policies and procedures",
    "step.training": "Training and capacity building",
    "step.monitoring": "Monitoring",
    "step.communication": "Annual due-diligence report",
    # The task page (remediation_flows/task_page/templates).
    "page.your_task": "{reference}: your task",
    "page.enterprise": "Enterprise",
    "page.answering_as": "Answering as",
    "page.not_accepted": "Your answer was not accepted:",
    "page.optional": "(optional)",
    "page.choose": "Choose…",
    "page.evidence_file": "Evidence file",
    "page.evidence_hint": "{evidence}: one PDF, JPEG or PNG file, at most {limit}.",
    "page.submit": "Submit",
    "page.footer": "Use case references only; never write a child's name, birth date, address or school.",
    "page.thank_you_title": "{reference}: thank you",
    "page.thank_you": "Thank you",
    "page.recorded": (
        "Your answer for case {reference} is recorded as given by {recipient} ({role}), verified by the "
        "link sent to that address. The link now no longer works."
    ),
    "page.new_link": "If you still need to answer, ask your contact at the programme for a new link.",
    "page.cycle": "Due-diligence cycle",
    "page.cycle_recorded": (
        "Your answer for {reference} is recorded as given by {recipient} ({role}), verified by the "
        "link sent to that address. The link now no longer works."
    ),
    "page.whole_enterprise": "all sites",
    # The task page's refusals: a title (".title") and a sentence each; the reasons a link no
    # longer works share the title "refusal.gone.title".
    "refusal.unknown.title": "Unknown link",
    "refusal.unknown": "This link is not known: check that the whole address was copied from the email.",
    "refusal.gone.title": "This link no longer works",
    "refusal.used": "This link was already used on {when}; it works once.",
    "refusal.void": (
        "This link no longer works: it was replaced by a new link, or the task was answered or "
        "withdrawn another way."
    ),
    "refusal.expired": "This link expired on {when}.",
    "refusal.closed": "This task is no longer open: it was answered or cancelled.",
    "refusal.answered": "This approval was already given by another route.",
    "refusal.role_removed": "The programme no longer lists you in the role this task was sent to you for.",
    "refusal.wrong_task.title": "Wrong task",
    "refusal.wrong_task": "This link was issued for another task.",
    "refusal.csrf.title": "Form not accepted",
    "refusal.csrf": (
        "This form did not come from your task page (its anti-forgery token is missing or wrong). "
        "Please open the link from your email again."
    ),
    "refusal.too_many.title": "Too many attempts",
    "refusal.too_many": "Too many attempts for this link. Please wait a few minutes.",
    "refusal.not_waiting.title": "Not waiting for this answer now",
    "refusal.not_waiting": "Your answer is not awaited at the moment; please try again in a minute.",
    "refusal.unreadable.title": "Form not readable",
    "refusal.unreadable": "The form could not be read; please open the link again.",
    "refusal.too_large.title": "File too large",
    "refusal.too_large": "The file is over the limit of {limit} bytes. Please send a smaller scan or photo.",
    "refusal.no_file.title": "No file expected",
    "refusal.no_file": "This task takes no file; please answer without one.",
    # What is wrong with one field of a task page's form, after the field's title (pydantic's own
    # messages are English only).
    "invalid.missing": "required",
    "invalid.at_least": "must be at least {limit}",
    "invalid.more_than": "must be more than {limit}",
    "invalid.at_most": "must be at most {limit}",
    "invalid.less_than": "must be less than {limit}",
    "invalid.whole_number": "must be a whole number",
    "invalid.number": "must be a number",
    "invalid.yes_or_no": "must be yes or no",
    "invalid.date": "must be a date (year-month-day)",
    "invalid.choice": "choose one of the options",
    "invalid.too_short": "must be at least {limit} characters long",
    "invalid.too_long": "must be at most {limit} characters long",
    "page.next_step": "The case now waits for:",
    "page.next_due": "Due by {due}.",
    "page.case_closed": "Case {reference} is now closed.",
    # The question a task page asks, by the step it answers (approvals by what they approve).
    "question.plan_approval": "Approve remediation plan {plan_id}? (awaiting: {pending})",
    "question.closure": "Close the case? Monitoring is complete (awaiting: {closure_pending})",
    "question.school_reintegration": "School reintegration: enrolment confirmed",
    "question.stipend_payment": (
        "Stipend payment: confirm the amount paid to the family, the day and the payment's reference"
    ),
    "question.young_worker_protection": (
        "Young-worker protection: hazardous tasks removed, hours cut, night shifts stopped"
    ),
    # The question a due-diligence cycle's task page asks, by step and form (the flow's own words,
    # flows/due_diligence/questions.py, which tests/unit/test_cycle_links.py compares).
    "question.cycle.risk_assessment.SiteRiskAnswer": (
        "Risk assessment of site {site}: workforce, hiring practice and past findings"
    ),
    "question.cycle.policies_and_procedures.ApprovalAnswer": (
        "Approve the policies (review {reviews})? (awaiting: {pending})"
    ),
    "question.cycle.policies_and_procedures.PolicyReviewAnswer": (
        "Policies and procedures: prevention, on-site intervention and remediation"
    ),
    "question.cycle.training.TrainingPlanAnswer": "Training plan for key staff and suppliers{high_first}",
    "question.cycle.training.TrainingAttendanceAnswer": "Training attendance ({planned} planned)",
    "question.cycle.monitoring.MonitoringVisitAnswer": "Monitoring visit to {site} (risk: {risk})",
    "question.cycle.communication.ApprovalAnswer": (
        "Approve the annual report (artifact due-diligence-{enterprise_id}-{year})? (awaiting: {pending})"
    ),
    # The fields of the forms a task link answers, by form and field (the title, then ".hint" for
    # the description); the English is the RunInput model's own (flows/remediation/answers.py),
    # which tests/unit/test_task_page.py compares.
    "field.ApprovalAnswer.approved": "Approved",
    "field.ApprovalAnswer.comment": "Comment",
    "field.ApprovalAnswer.comment.hint": (
        "Required when not approved. Never write a child's name, birth date, address or school here: "
        "use the case reference."
    ),
    "field.SchoolReintegrationAnswer.effective_on": "Enrolment confirmed on",
    "field.SchoolReintegrationAnswer.evidence_reference": "Evidence reference",
    "field.SchoolReintegrationAnswer.evidence_reference.hint": "Reference of the enrolment letter in the case file (each stipend payment is confirmed on its own, in the ledger).",
    "field.StipendPaymentAnswer.amount": "Amount paid",
    "field.StipendPaymentAnswer.currency": "Currency (ISO 4217)",
    "field.StipendPaymentAnswer.paid_on": "Paid on",
    "field.StipendPaymentAnswer.payment_reference": "Payment reference",
    "field.StipendPaymentAnswer.payment_reference.hint": "Bank transfer, mobile-money transaction or receipt number. Never write a child's name, birth date, address or school here: use the case reference.",
    "field.YoungWorkerProtectionAnswer.effective_on": "Protection in place from",
    "field.YoungWorkerProtectionAnswer.hazardous_tasks_removed": "Hazardous tasks removed",
    "field.YoungWorkerProtectionAnswer.hours_reduced": "Working hours cut to the legal limit",
    "field.YoungWorkerProtectionAnswer.night_shifts_stopped": "Night shifts stopped",
    # The due-diligence cycle's forms (flows/due_diligence/answers.py), on its task page.
    "field.SiteRiskAnswer.workers_under_18_percent": "Workers under 18 (% of the workforce)",
    "field.SiteRiskAnswer.age_verification": "Age verification at hiring",
    "field.SiteRiskAnswer.uses_labour_agents": "Hires through labour agents",
    "field.SiteRiskAnswer.uses_subcontractors": "Uses subcontractors",
    "field.SiteRiskAnswer.student_or_vocational_workers": "Employs student or vocational-school workers",
    "field.SiteRiskAnswer.dormitories": "Houses workers in dormitories",
    "field.SiteRiskAnswer.cases_last_3_years": "Child-labour cases at the site in the last 3 years",
    "field.SiteRiskAnswer.audit_findings_child_labour": "Child-labour findings in the latest audit",
    "field.PolicyReviewAnswer.prevention_policy": "Child-labour prevention policy drafted or reviewed",
    "field.PolicyReviewAnswer.on_site_intervention_procedure": "On-site intervention procedure drafted or reviewed",
    "field.PolicyReviewAnswer.remediation_policy": "Remediation policy drafted or reviewed",
    "field.PolicyReviewAnswer.document_reference": "Document reference",
    "field.TrainingPlanAnswer.sessions": "Sessions planned",
    "field.TrainingPlanAnswer.planned_participants": "Key staff and supplier participants planned",
    "field.TrainingAttendanceAnswer.attended": "Participants who attended",
    "field.MonitoringVisitAnswer.visited_on": "Visit or audit date",
    "field.MonitoringVisitAnswer.child_found": "A child was found at work",
    "field.MonitoringVisitAnswer.child_found.hint": "Opens a remediation case per child.",
    "field.MonitoringVisitAnswer.children_found": "How many children were found",
    "field.MonitoringVisitAnswer.findings": "Findings",
    "field.MonitoringVisitAnswer.findings.hint": (
        "Never write a child's name, birth date, address or school here: use the case reference."
    ),
    "evidence.school_reintegration": "the enrolment letter or the stipend receipt",
    "evidence.training": "the attendance sheet, signed by the trainer",
    "evidence.young_worker_protection": (
        "a signed record of the protection measures (e.g. the new job description or rota)"
    ),
}


class UnknownLanguage(ValueError):
    """A language code no catalog serves."""


def placeholders(message: str) -> set[str]:
    """The ``{names}`` a message is formatted with."""
    return {name for _, name, _, _ in string.Formatter().parse(message) if name}


def catalog_path(language: str) -> Path:
    """Where ``language``'s catalog is, inside the package."""
    return LOCALES / language / "LC_MESSAGES" / f"{DOMAIN}.po"


def read_catalog(language: str) -> Catalog:
    """``language``'s catalog as Babel reads it."""
    with catalog_path(language).open("rb") as po:
        return read_po(po, locale=LANGUAGES[language], domain=DOMAIN)


def native_review(language: str) -> str:
    """What ``language``'s catalog says of its review by a native speaker ('none yet' or who and when)."""
    match = REVIEW_LINE.search(catalog_path(language).read_text(encoding="utf-8"))
    return match.group("review").strip() if match else "not recorded"


@cache
def translations(language: str) -> gettext.NullTranslations:
    """``language``'s catalog compiled in memory; fuzzy entries left out, so they read in English."""
    if language not in LANGUAGES:
        raise UnknownLanguage(f"no catalog for language {language!r}; known: {', '.join(LANGUAGES)}")
    compiled = io.BytesIO()
    write_mo(compiled, read_catalog(language), use_fuzzy=False)
    compiled.seek(0)
    return gettext.GNUTranslations(compiled)


@cache
def words(language: str) -> dict[str, str]:
    """Every message in ``language`` by key; one missing from its catalog reads in English."""
    catalog = translations(language)
    return {key: catalog.pgettext(key, english) for key, english in ENGLISH.items()}


def step_title(language: str, step: str) -> str:
    """The step's name in ``language``; unknown steps show their identifier."""
    return words(language).get(f"step.{step}", step)


def locale_of(language: str) -> Locale:
    """The Babel locale that formats dates and numbers for ``language``."""
    return Locale.parse(LANGUAGES.get(language, "en"))


def direction(language: str) -> str:
    """``rtl`` for a language written right to left (Arabic), else ``ltr``: HTML's ``dir``."""
    return "rtl" if locale_of(language).character_order == "right-to-left" else "ltr"


def format_local_time(local: dt.datetime, language: str) -> str:
    """A site-local date and time as ``language``'s locale writes it (medium date, short time)."""
    locale = locale_of(language)
    # CLDR's glue of date ({1}) and time ({0}), its literal words quoted ('at'): unquoted here.
    pattern = str(get_datetime_format("medium", locale=locale)).replace("'", "")
    date_text = format_date(local.date(), "medium", locale=locale)
    time_text = format_time(local, "short", tzinfo=local.tzinfo, locale=locale)
    return pattern.replace("{1}", date_text).replace("{0}", time_text)


def format_due(instant: dt.datetime, zone: str, language: str) -> str:
    """An instant in the site's zone, in ``language``: date and time, then zone and UTC offset."""
    local = instant.astimezone(ZoneInfo(zone))
    offset = local.strftime("%z")
    return f"{format_local_time(local, language)} ({zone}, UTC{offset[:3]}:{offset[3:]})"


def format_value(value: object, language: str) -> str:
    """A value put into a message: a :class:`Text` worded too, :class:`Money` with its currency in
    the locale's notation (core/money.py, the one formatter of amounts), the rest as is.

    Whole numbers (a visit number, a year) are not grouped: 2026 stays 2026. An amount without its
    currency is refused: it would read without one, or as a float's "8000.0".
    """
    if isinstance(value, Text):
        return value.render(language)
    if isinstance(value, Money):
        return value.in_language(language)
    if isinstance(value, Decimal | float):
        raise TypeError(f"an amount goes into a message as Money(amount, currency), not {value!r}")
    return str(value)


@dataclass(frozen=True)
class Text:
    """A message not yet put into words: its key and values, rendered per recipient's language."""

    key: str
    values: Mapping[str, object] = field(default_factory=dict)

    def render(self, language: str) -> str:
        """The message in ``language``, its values formatted in that language's locale."""
        return words(language)[self.key].format(
            **{name: format_value(value, language) for name, value in self.values.items()}
        )


def text(key: str, **values: object) -> Text:
    """The message ``key`` with ``values``, to be worded in each recipient's language."""
    if key not in ENGLISH:
        raise KeyError(f"no message {key!r} in i18n.ENGLISH")
    return Text(key, dict(values))


def in_language(message: str | Text, language: str) -> str:
    """``message`` in ``language``: a :class:`Text` is worded, a plain string (free text) stays."""
    return message.render(language) if isinstance(message, Text) else message


def catalog_problems(catalog: Catalog) -> list[str]:
    """What keeps ``catalog`` from wording every message of :data:`ENGLISH` as the English does.

    A message missing, untranslated, marked fuzzy, translated from an older English sentence, or
    whose ``{placeholders}`` differ from the English one (a dropped ``{stipend}`` loses a fact; an
    invented ``{amount}`` fails to render); and any entry for a key that no longer exists.
    """
    problems = []
    entries = {message.context: message for message in catalog if message.id and message.context}
    for key, english in ENGLISH.items():
        message = entries.get(key)
        if message is None:
            problems.append(f"{key}: missing")
        elif message.id != english:
            problems.append(f"{key}: translated from an older English sentence: {message.id!r}")
        elif not isinstance(message.string, str) or not message.string.strip():
            problems.append(f"{key}: not translated")
        elif message.fuzzy:
            problems.append(f"{key}: marked fuzzy (a translation to check)")
        elif placeholders(message.string) != placeholders(english):
            problems.append(
                f"{key}: placeholders {sorted(placeholders(message.string))} "
                f"where the English has {sorted(placeholders(english))}"
            )
    problems += [f"{key}: no such message in ENGLISH" for key in entries if key not in ENGLISH]
    return problems


def template_catalog() -> Catalog:
    """The template (``messages.pot``) made from :data:`ENGLISH`."""
    template = Catalog(project="remediation-flows", domain=DOMAIN, charset="utf-8")
    for key, english in ENGLISH.items():
        flags = ("python-brace-format",) if placeholders(english) else ()
        template.add(english, "", context=key, flags=flags)
    return template


def update_catalogs() -> list[Path]:
    """Rewrite ``messages.pot`` from :data:`ENGLISH` and merge it into every catalog; the files written."""
    written = [LOCALES / f"{DOMAIN}.pot"]
    LOCALES.mkdir(exist_ok=True)
    with written[0].open("wb") as pot:
        write_po(pot, template_catalog(), width=100, omit_header=False)
    for language, locale in LANGUAGES.items():
        path = catalog_path(language)
        if path.exists():
            catalog = read_catalog(language)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            catalog = Catalog(locale=locale, domain=DOMAIN, project="remediation-flows", charset="utf-8")
            catalog.header_comment = (
                f"# {language} messages of remediation-flows.\n# Native-speaker review: none yet"
            )
        catalog.update(template_catalog())  # a fresh template each: update() adopts its messages
        catalog.fuzzy = False
        catalog.obsolete.clear()  # a message removed from ENGLISH leaves every catalog with it
        if language == "en":
            for message in catalog:
                if message.id:
                    message.string, message.flags = message.id, message.flags - {"fuzzy"}
        with path.open("wb") as po:
            write_po(po, catalog, width=100, include_previous=False)
        written.append(path)
    return written


def adopt_translations(strings: Mapping[str, Mapping[str, str]]) -> list[str]:
    """Fill every catalog's untranslated entries from ``strings`` (language -> key -> sentence).

    For a branch written before the catalogs, whose messages were a Python dict ``STRINGS``
    (and ``STEP_TITLES``, whose keys become ``step.<name>``): its Spanish and Chinese sentences
    land in those catalogs. A translation already in a catalog is kept; one whose placeholders
    differ from the English is not taken. Returns what was not adopted, and why.
    """
    skipped = [
        f"{key}: add it to ENGLISH first (English: {english!r})"
        for key, english in strings.get("en", {}).items()
        if key not in ENGLISH
    ]
    for language, sentences in strings.items():
        if language == "en" or language not in LANGUAGES:
            continue
        catalog = read_catalog(language)
        for message in catalog:
            offered = sentences.get(message.context or "")
            if not message.id or offered is None or (message.string and not message.fuzzy):
                continue
            if placeholders(offered) != placeholders(str(message.id)):
                skipped.append(f"{language} {message.context}: placeholders differ from the English")
                continue
            message.string = offered
            message.flags.discard("fuzzy")
        with catalog_path(language).open("wb") as po:
            write_po(po, catalog, width=100, include_previous=False)
    return skipped


def _old_style_strings(path: str) -> dict[str, dict[str, str]]:
    """``STRINGS`` and ``STEP_TITLES`` of a Python file in the layout before the catalogs."""
    import runpy

    module = runpy.run_path(path)
    strings: dict[str, dict[str, str]] = {lang: dict(t) for lang, t in module.get("STRINGS", {}).items()}
    for lang, titles in module.get("STEP_TITLES", {}).items():
        strings.setdefault(lang, {}).update({f"step.{step}": title for step, title in titles.items()})
    return strings


if __name__ == "__main__":
    # python -m remediation_flows.core.mail.i18n [--adopt OLD_I18N.py]
    for written_path in update_catalogs():
        print(written_path, file=sys.stderr)
    if sys.argv[1:2] == ["--adopt"]:
        for reason in adopt_translations(_old_style_strings(sys.argv[2])):
            print(f"not adopted: {reason}", file=sys.stderr)
    for code in LANGUAGES:
        for problem in catalog_problems(read_catalog(code)):
            print(f"{catalog_path(code)}: {problem}", file=sys.stderr)
