"""One email in each of the twelve languages, Arabic right to left, dates and amounts per locale.

tests/unit/test_mail_render.py renders every kind of email in every language (no placeholder
left, no English sentence, HTML escaped); this file reads one task email per language closely.
"""

from __future__ import annotations

import copy
import datetime as dt
import re
from decimal import Decimal

import icalendar
import pytest
from markupsafe import escape

from remediation_flows.core.config import Programme, load_programme_document
from remediation_flows.core.mail import render
from remediation_flows.core.mail.i18n import ENGLISH, LANGUAGES, step_title, text, words
from remediation_flows.core.money import Money, format_money

REFERENCE = "CL-2026-000123"
DUE = dt.datetime(2026, 12, 7, 17, 59, 59, tzinfo=dt.UTC)  # 23:59 in Dhaka
#: How each language's locale writes the 7th of December 2026 at 23:59 and 8000 (CLDR via Babel).
LOCAL_DUE = {
    "en": "Dec 7, 2026, 11:59\u202fPM",
    "es": "7 dic 2026, 23:59",
    "zh": "2026年12月7日 23:59",
    "tr": "7 Ara 2026 23:59",
    "id": "7 Des 2026 23.59",
    "vi": "23:59 7 thg 12, 2026",
}
LOCAL_AMOUNT = {
    "en": "BDT8,000.00",
    "es": "8.000,00\xa0BDT",
    "tr": "BDT8.000,00",
    "id": "BDT8.000,00",
    "hi": "BDT8,000.00",
}
#: A word in each language's own script or spelling, from its task lead, that English lacks.
OWN_WORDS = {
    "es": "remediación",
    "zh": "补救",
    "bn": "প্রতিকার",
    "km": "ភារកិច្ច",
    "ar": "معالجة",
    "hi": "सुधार",
    "id": "remediasi",
    "lo": "ວຽກ",
    "my": "ပြန်လည်ကုစားရေး",
    "tr": "iyileştirme",
    "vi": "khắc phục",
}


def in_language(programme: Programme, language: str) -> Programme:
    document = copy.deepcopy(programme.document)
    document["enterprise"]["language"] = language
    return load_programme_document(document, f"{programme.enterprise_id} ({language})")


def review_task(programme: Programme, language: str | None = None) -> render.RenderedMail:
    return render.task_mail(
        programme,
        reference=REFERENCE,
        site_id="dhaka-knit-01",
        step="remediation_plan",
        instructions=text(
            "instr.review_plan",
            pathway=text("pathway.vocational_training"),
            stipend=Money(Decimal("8000"), "BDT"),
            fees=Money(Decimal("1200.5"), "BDT"),
            payer=text("payer.supplier"),
        ),
        due_at=DUE,
        calendar_uid=f"{REFERENCE}/r1/remediation_plan@remediation-flows",
        language=language,
    )


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_task_email_in_each_language(garment_brand, language):
    mail = review_task(in_language(garment_brand, language))
    w = words(language)
    title = step_title(language, "remediation_plan")
    assert mail.subject.startswith(w["task_subject"].split("{case}")[0] + REFERENCE)
    assert title in mail.subject
    for sentence in (w["greeting"], w["task_lead"], w["task_action"], w["footer"], w["case"], w["due"]):
        assert sentence in mail.text, sentence
        assert str(escape(sentence)) in mail.html, sentence
    amount = format_money(Decimal("8000"), "BDT", language)
    instructions = w["instr.review_plan"].format(
        pathway=w["pathway.vocational_training"],
        stipend=amount,
        fees=format_money(Decimal("1200.5"), "BDT", language),
        payer=w["payer.supplier"],
    )
    assert instructions in mail.text
    if language in LOCAL_AMOUNT:
        assert LOCAL_AMOUNT[language] == amount
    if language in LOCAL_DUE:
        assert f"{LOCAL_DUE[language]} (Asia/Dhaka, UTC+06:00)" in mail.text
    assert f'<html lang="{language}"' in mail.html
    calendar = icalendar.Calendar.from_ical(mail.calendar_ics)
    [event] = [part for part in calendar.walk("VEVENT")]
    assert str(event["SUMMARY"]) == f"{REFERENCE}: {title}"
    assert event["SUMMARY"].params["LANGUAGE"] == language
    assert str(event["DESCRIPTION"]) == instructions
    if language != "en":
        assert OWN_WORDS[language] in mail.text
        # The plan's pathway and payer are worded too, not left as identifiers.
        assert "vocational" not in mail.text and "supplier" not in mail.text
        for english in (ENGLISH["task_lead"], ENGLISH["footer"], ENGLISH["step.remediation_plan"]):
            assert english not in mail.text and english not in mail.subject


def test_an_arabic_email_reads_right_to_left(garment_brand):
    mail = review_task(garment_brand, language="ar")
    w = words("ar")
    assert '<html lang="ar" dir="rtl">' in mail.html
    # Labels sit on the right of their values, and each value finds its own direction (a case
    # reference or an address stays left to right inside the Arabic).
    assert re.search(r'<th style="text-align: right; padding: 2px 0 2px 12px">', mail.html)
    assert f'<td dir="auto">{REFERENCE}</td>' in mail.html
    assert w["footer"].startswith("أُرسلت") and str(escape(w["footer"])) in mail.html
    assert mail.subject.startswith(f"[{REFERENCE}] مهمة: {step_title('ar', 'remediation_plan')}")
    # Every letter of the lead is Arabic script (or punctuation), none Latin.
    assert not re.search(r"[A-Za-z]", w["task_lead"])
    english = review_task(garment_brand, language="en")
    assert '<html lang="en" dir="ltr">' in english.html and 'dir="rtl"' not in english.html


def test_the_recipients_language_wins_over_the_enterprises(garment_brand):
    """A Bengali reader of an English enterprise gets Bengali; a language given at the call wins."""
    document = copy.deepcopy(garment_brand.document)
    document["sites"][0]["language"] = "bn"
    programme = load_programme_document(document, "garment_brand (bn site)")
    mail = review_task(programme)
    assert words("bn")["task_lead"] in mail.text and ENGLISH["task_lead"] not in mail.text
    assert words("vi")["task_lead"] in review_task(programme, language="vi").text
