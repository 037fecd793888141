"""Every email in every language: no missing word, no placeholder left, HTML escaped."""

from __future__ import annotations

import copy
import datetime as dt
import re
from collections.abc import Callable

import pytest
from markupsafe import escape

from remediation_flows.core.config import Programme, Role, load_programme_document
from remediation_flows.core.mail import render
from remediation_flows.core.mail.i18n import ENGLISH, LANGUAGES, direction, step_title, words
from remediation_flows.core.mail.render import RenderedMail

REFERENCE = "CL-2026-000123"
MARKUP = "<b>bold</b> & <script>alert(1)</script>"
DUE = dt.datetime(2026, 12, 7, 17, 59, 59, tzinfo=dt.UTC)
#: Word keys that name something (a role, an instruction): seen in an email, they are a missing translation.
#: (Identifiers that are plain words, such as the step 'closure', cannot be told from prose.)
STEPS = [key.removeprefix("step.") for key in ENGLISH if key.startswith("step.")]
IDENTIFIERS = sorted(
    name for name in {*ENGLISH, *(str(role) for role in Role), *STEPS} if re.search(r"[._]", name)
)
#: The messages an email is made of (the task page's own are tested with the page).
EMAIL_WORDS = {key: english for key, english in ENGLISH.items() if not key.startswith(("page.", "question."))}


@pytest.fixture(scope="module", params=LANGUAGES)
def programme(request, garment_brand) -> Programme:
    """The garment brand's programme, its emails in the language under test."""
    return in_language(garment_brand, request.param)


def in_language(programme: Programme, language: str) -> Programme:
    document = copy.deepcopy(programme.document)
    document["enterprise"]["language"] = language
    return load_programme_document(document, f"{programme.enterprise_id} ({language})")


def every_mail(programme: Programme, value: str) -> dict[str, RenderedMail]:
    """One email of each kind render.py makes, with ``value`` wherever free text goes."""
    common = {"reference": REFERENCE, "site_id": "dhaka-knit-01"}
    mails = {
        f"task/{step}": render.task_mail(
            programme,
            **common,
            step=step,
            instructions=value,
            due_at=DUE,
            calendar_uid=f"{REFERENCE}/r1/{step}@remediation-flows",
        )
        for step in STEPS
    }
    for stage in ("reminder", "due", "overdue"):
        for role in Role:
            mails[f"escalation/{stage}/{role}"] = render.escalation_mail(
                programme,
                **common,
                step="follow_up_visit",
                due_at=DUE,
                owner_role=str(role),
                working_days_late=3,
                stage=stage,
            )
    mails["extension"] = render.extension_mail(
        programme,
        **common,
        step="school_reintegration",
        previous_due_at=DUE,
        new_due_at=DUE + dt.timedelta(days=7),
        reason=value,
        calendar_uid=f"{REFERENCE}/r1/school_reintegration@remediation-flows",
    )
    for with_reference in (True, False):
        mails[f"delivery_failed/{with_reference}"] = render.delivery_failed_mail(
            programme.language,
            subject=f"[{REFERENCE}] {value}",
            recipients=["a@brand.example", "b@brand.example"],
            error=value,
            reference=REFERENCE if with_reference else None,
        )
    mails["unplaceable_ladder"] = render.unplaceable_ladder_mail(
        programme.language, milestone_key=f"{REFERENCE}/r1/follow_up_visit/2", problem=value
    )
    return mails


def test_every_render_function_is_exercised():
    """A new kind of email added to render.py must be added to :func:`every_mail` too."""
    made_here = {"task_mail", "escalation_mail", "extension_mail", "delivery_failed_mail"}
    made_here |= {"unplaceable_ladder_mail"}
    public = {
        name
        for name, value in vars(render).items()
        if isinstance(value, Callable) and name.endswith("_mail") and value.__module__ == render.__name__
    }
    assert public == made_here


# That every catalog has every message, with the English placeholders: tests/unit/test_catalogs.py.


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_role_has_a_name(language):
    # A role added to the model without a message would show its identifier in every email.
    for role in Role:
        assert f"role.{role}" in ENGLISH, role
        assert words(language)[f"role.{role}"].strip(), role


@pytest.mark.parametrize("language", LANGUAGES)
def test_instructions_format_with_the_values_the_callers_give(language):
    values = {
        "pathway": "schooling",
        "stipend": "1500",
        "currency": "MXN",
        "fees": "300",
        "payer": "supplier",
        "number": 3,
        "comment": "stipend too low",
        "year": 2026,
        "site": "dhaka-knit-01",
        "title": "Monthly stipend 2",
        "amount": "BDT8,000.00",
    }
    for key in (k for k in ENGLISH if k.startswith("instr.")):
        text = words(language)[key].format(**values)
        assert "{" not in text and "}" not in text, key


def test_each_kind_renders_fully_in_its_language(programme):
    w = words(programme.language)
    for kind, mail in every_mail(programme, "Bring the enrolment letter").items():
        for part in (mail.subject, mail.text, mail.html):
            assert part.strip(), kind
            assert not re.search(r"\{[^}]*\}", part), f"{kind}: placeholder left in {part!r}"
            for identifier in IDENTIFIERS:
                # A milestone key (CL-.../r1/follow_up_visit/2) names its step on purpose.
                assert not re.search(rf"(?<![\w./-]){re.escape(identifier)}(?![\w/-])", part), (
                    f"{kind}: '{identifier}' left untranslated"
                )
        if kind != "delivery_failed/False":  # a failed email about no case names none
            assert REFERENCE in mail.subject and REFERENCE in mail.text and REFERENCE in mail.html, kind
        for sentence in (w["greeting"], w["footer"]):
            assert sentence in mail.text and escape(sentence) in mail.html, kind
        assert f'<html lang="{programme.language}" dir="{direction(programme.language)}">' in mail.html


@pytest.mark.parametrize("language", [code for code in LANGUAGES if code != "en"])
def test_no_english_sentence_in_a_translated_email(language, garment_brand):
    programme = in_language(garment_brand, language)
    # Every run of English words between placeholders, long enough not to be a name or a number.
    english = [
        fragment.strip()
        for sentence in EMAIL_WORDS.values()
        for fragment in re.split(r"\{[^}]*\}", sentence)
        if len(fragment.strip()) > 8
    ]
    assert len(english) > 50
    for kind, mail in every_mail(programme, "-").items():
        for part in (mail.subject, mail.text, mail.html):
            leaked = [fragment for fragment in english if fragment in part or escape(fragment) in part]
            assert leaked == [], kind


def test_the_words_of_each_kind_are_the_languages_own(programme):
    w = words(programme.language)
    mails = every_mail(programme, "-")
    expected = {
        "task/closure": ("task_lead", "task_action"),
        "escalation/reminder/director": ("reminder_lead", "escalation_action"),
        "escalation/due/director": ("due_lead", "escalation_action"),
        "escalation/overdue/director": ("overdue_lead", "escalation_action"),
        "extension": ("extension_lead", "extension_action"),
        "delivery_failed/True": ("failed_lead", "failed_action"),
        "unplaceable_ladder": ("unplaceable_lead", "unplaceable_action"),
    }
    for kind, keys in expected.items():
        for key in keys:
            assert w[key] in mails[kind].text and escape(w[key]) in mails[kind].html, (kind, key)
    assert w["role.enterprise_focal_point"] in mails["escalation/due/enterprise_focal_point"].text
    assert step_title(programme.language, "closure") in mails["task/closure"].subject
    assert f"{w['late']}: 3" in mails["escalation/overdue/director"].text
    assert w["late"] not in mails["escalation/due/director"].text  # only an overdue email counts days


def test_html_escapes_every_value_and_text_keeps_it_verbatim(programme):
    for kind, mail in every_mail(programme, MARKUP).items():
        if MARKUP not in mail.text:
            continue  # an escalation email carries no free text
        assert "<b>" not in mail.html and "<script>" not in mail.html, kind
        assert "&lt;b&gt;bold&lt;/b&gt; &amp; &lt;script&gt;" in mail.html, kind
        # The only tags are the template's own.
        tags = set(re.findall(r"</?([a-zA-Z]+)", mail.html))
        assert tags <= {
            "html",
            "head",
            "meta",
            "title",
            "body",
            "p",
            "strong",
            "table",
            "tr",
            "th",
            "td",
            "hr",
        }
    failed = every_mail(programme, MARKUP)["delivery_failed/True"]
    assert MARKUP in failed.subject  # the subject is a header, not HTML: it is not escaped ...
    assert f"<title>{MARKUP}" not in failed.html  # ... but where the HTML shows it, it is


def test_a_programme_role_with_markup_in_a_contact_name_is_escaped(garment_brand):
    document = copy.deepcopy(garment_brand.document)
    # The Dhaka site names its own case manager, so that is whom its task emails name.
    document["sites"][0]["contacts"]["case_manager"][0]["name"] = "Rahim <i>Uddin</i>"
    programme = load_programme_document(document, "garment_brand (markup)")
    mail = render.task_mail(
        programme,
        reference=REFERENCE,
        site_id="dhaka-knit-01",
        step="closure",
        instructions="-",
        due_at=DUE,
        calendar_uid="x@remediation-flows",
    )
    assert "Rahim &lt;i&gt;Uddin&lt;/i&gt; &lt;rahim.uddin@ngo.example&gt;" in mail.html
    assert "Rahim <i>Uddin</i> <rahim.uddin@ngo.example>" in mail.text


@pytest.mark.parametrize("reference", [REFERENCE, MARKUP, "{case} {0} }{ %s"])
def test_an_escalation_mail_filled_into_its_template_is_the_one_jinja_renders(programme, reference):
    """The sweep fills each email into a template rendered once per site, step, owner, stage and
    language; every such email must be exactly what rendering it afresh gives, escaping included."""
    assert programme.fingerprint  # a loaded programme: the templated path is the one under test
    for site_id in programme.sites:
        for stage in ("reminder", "due", "overdue"):
            for role in (Role.CASE_MANAGER, Role.ENTERPRISE_FOCAL_POINT):
                for due_at, late in ((DUE, 3), (DUE + dt.timedelta(days=40, hours=5), 12)):
                    arguments = {
                        "reference": reference,
                        "site_id": site_id,
                        "step": "follow_up_visit",
                        "due_at": due_at,
                        "owner_role": str(role),
                        "working_days_late": late,
                        "stage": stage,
                    }
                    filled = render.escalation_mail(programme, **arguments)
                    assert filled == render._render_escalation(programme, **arguments)
                    assert str(escape(reference)) in filled.html and reference in filled.text


@pytest.mark.parametrize("reference", [REFERENCE, MARKUP])
def test_a_task_mail_filled_into_its_template_is_the_one_jinja_renders(programme, reference):
    """Task emails without a link are filled into a template too (the import writes thousands)."""
    for site_id in programme.sites:
        for instructions in ("Visit the child at school {number}", MARKUP):
            for due_at in (DUE, DUE + dt.timedelta(days=40, hours=5)):
                arguments = {
                    "reference": reference,
                    "site_id": site_id,
                    "step": "follow_up_visit",
                    "instructions": instructions,
                    "due_at": due_at,
                    "contact_role": Role.CASE_MANAGER,
                    "language": None,
                }
                filled = render.task_mail(programme, **arguments, calendar_uid="CL/r1/x@remediation-flows")
                fresh = render._render_task(programme, **arguments, task_link=None)
                assert (filled.subject, filled.text, filled.html) == (fresh.subject, fresh.text, fresh.html)
                assert "UID:CL/r1/x@remediation-flows" in (filled.calendar_ics or "")
