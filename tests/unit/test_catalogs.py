"""The gettext catalogs: every language words every message, with the English placeholders.

A message missing from a catalog reads in English (gettext's fallback), so without this test a
Khmer email could carry an English sentence and nobody would notice. The checks themselves are
shown to fail on a catalog with a message taken out or a placeholder changed.
"""

from __future__ import annotations

import copy
import io
import re
import shutil
from pathlib import Path

import pytest
import yaml
from babel.messages.pofile import read_po, write_po

from remediation_flows.core.config import ConfigInvalid, load_programme_document
from remediation_flows.core.config.loader import load_schema
from remediation_flows.core.mail import i18n
from remediation_flows.core.mail.i18n import ENGLISH, LANGUAGES, catalog_problems, read_catalog

README = Path(__file__).parents[2] / "README.md"
EXAMPLES = Path(__file__).parents[2] / "examples"


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_catalog_has_every_message_with_the_same_placeholders(language):
    assert catalog_problems(read_catalog(language)) == []


@pytest.mark.parametrize("language", [code for code in LANGUAGES if code != "en"])
def test_every_catalog_is_its_own_language(language):
    """A translation that is the English sentence again was copied, not translated."""
    words = i18n.words(language)
    same = [key for key, english in ENGLISH.items() if words[key] == english and len(english) > 12]
    assert same == []


def _edited(language: str, edit) -> str:
    """``language``'s catalog after ``edit`` (a function of the Babel catalog), read back from text."""
    catalog = read_catalog(language)
    edit(catalog)
    buffer = io.BytesIO()
    write_po(buffer, catalog)
    buffer.seek(0)
    return "\n".join(catalog_problems(read_po(buffer, locale=LANGUAGES[language])))


def test_a_missing_message_is_named():
    problems = _edited("km", lambda catalog: catalog.delete(ENGLISH["footer"], context="footer"))
    assert problems == "footer: missing"


def test_a_changed_or_dropped_placeholder_is_named():
    def change(catalog):
        review = catalog.get(ENGLISH["instr.review_plan"], context="instr.review_plan")
        review.string = review.string.replace("{stipend}", "{amount}")
        visit = catalog.get(ENGLISH["instr.follow_up_visit"], context="instr.follow_up_visit")
        visit.string = visit.string.replace("{number}", "")

    problems = _edited("ar", change)
    assert (
        "instr.review_plan: placeholders ['amount', 'fees', 'pathway', 'payer'] "
        "where the English has ['fees', 'pathway', 'payer', 'stipend']"
    ) in problems
    assert "instr.follow_up_visit: placeholders [] where the English has ['number']" in problems


def test_an_untranslated_a_fuzzy_and_a_stale_message_are_named(monkeypatch):
    def change(catalog):
        catalog.get(ENGLISH["greeting"], context="greeting").string = ""
        catalog.get(ENGLISH["task_lead"], context="task_lead").flags.add("fuzzy")

    problems = _edited("lo", change)
    assert "greeting: not translated" in problems and "task_lead: marked fuzzy" in problems
    # The English of a message changed after it was translated: the translation is of the old one.
    monkeypatch.setitem(ENGLISH, "due_lead", "The milestone below is due today.")
    assert "due_lead: translated from an older English sentence" in "\n".join(
        catalog_problems(read_catalog("lo"))
    )


def test_a_message_not_yet_translated_reads_in_english_and_a_fuzzy_one_is_not_used(tmp_path, monkeypatch):
    """What a recipient reads while a catalog lags: the English, never a stale translation."""
    catalog = read_catalog("tr")
    catalog.get(ENGLISH["task_lead"], context="task_lead").flags.add("fuzzy")
    catalog.delete(ENGLISH["task_action"], context="task_action")
    path = tmp_path / "tr" / "LC_MESSAGES" / "messages.po"
    path.parent.mkdir(parents=True)
    with path.open("wb") as po:
        write_po(po, catalog)
    monkeypatch.setattr(i18n, "LOCALES", tmp_path)
    i18n.translations.cache_clear()
    i18n.words.cache_clear()
    try:
        words = i18n.words("tr")
        assert words["task_lead"] == ENGLISH["task_lead"]
        assert words["task_action"] == ENGLISH["task_action"]
        assert words["greeting"] == "Merhaba,"
    finally:
        i18n.translations.cache_clear()
        i18n.words.cache_clear()


def test_the_schema_accepts_exactly_the_languages_with_a_catalog():
    schema = load_schema("enterprise_programme.schema.json")
    assert schema["$defs"]["language"]["enum"] == list(LANGUAGES)
    assert schema["properties"]["enterprise"]["properties"]["language"] == {
        "$ref": "#/$defs/language",
        "description": schema["properties"]["enterprise"]["properties"]["language"]["description"],
    }
    for code in LANGUAGES:
        assert i18n.catalog_path(code).is_file(), code


@pytest.mark.parametrize(
    ("where", "path"),
    [
        (lambda d: d["enterprise"], "$.enterprise.language"),
        (lambda d: d["sites"][1], "$.sites[1].language"),
        (lambda d: d["contacts"]["program_manager"][0], "$.contacts.program_manager[0].language"),
    ],
)
def test_a_language_without_a_catalog_is_refused_naming_where_and_the_choices(where, path):
    document = yaml.safe_load((EXAMPLES / "garment_brand.yaml").read_text(encoding="utf-8"))
    document = copy.deepcopy(document)
    where(document)["language"] = "fr"
    with pytest.raises(ConfigInvalid) as refused:
        load_programme_document(document, "garment_brand.yaml")
    message = str(refused.value)
    assert f"{path}: 'fr' is not one of" in message
    assert "'km'" in message and "'ar'" in message and "'vi'" in message


def test_every_catalog_says_whether_a_native_speaker_reviewed_it_and_the_readme_agrees():
    section = README.read_text(encoding="utf-8").split("## Languages", 1)[1].split("\n## ", 1)[0]
    for code in LANGUAGES:
        review = i18n.native_review(code)
        assert review != "not recorded", code
        row = re.search(rf"^\| `{code}` \|[^\n]*\| (?P<review>[^|]+) \|$", section, re.MULTILINE)
        assert row is not None, f"README's Languages table has no row for {code}"
        assert row.group("review").strip() == review, code


def test_the_template_lists_every_english_message():
    """locales/messages.pot is what a translator starts from: regenerated with the catalogs."""
    with (i18n.LOCALES / "messages.pot").open("rb") as pot:
        template = read_po(pot)
    assert {message.context: message.id for message in template if message.id} == ENGLISH


OLD_STYLE_BRANCH = """
STRINGS = {
    "en": {"greeting": "Hello,", "stipend_late_subject": "[{case}] Stipend {month} not confirmed"},
    "es": {"stipend_late_subject": "[{case}] Estipendio de {month} sin confirmar"},
    "zh": {"stipend_late_subject": "[{case}] {mes} 月补助未确认"},
}
"""


def test_a_message_from_a_branch_written_before_the_catalogs_is_ported_in_two_steps(tmp_path, monkeypatch):
    """The lead's merge of a branch that added a key to the old STRINGS dict, as the README says."""
    locales = tmp_path / "locales"
    shutil.copytree(i18n.LOCALES, locales)
    monkeypatch.setattr(i18n, "LOCALES", locales)
    old = tmp_path / "old_i18n.py"
    old.write_text(OLD_STYLE_BRANCH, encoding="utf-8")
    strings = i18n._old_style_strings(str(old))
    # Before the English is added, nothing of it can be adopted, and the reason says so.
    assert "stipend_late_subject: add it to ENGLISH first" in "\n".join(i18n.adopt_translations(strings))

    # Step 1: the English into ENGLISH. Step 2: update the catalogs and adopt the branch's translations.
    monkeypatch.setitem(ENGLISH, "stipend_late_subject", "[{case}] Stipend {month} not confirmed")
    i18n.update_catalogs()
    skipped = i18n.adopt_translations(strings)
    assert skipped == ["zh stipend_late_subject: placeholders differ from the English"]  # {mes}, a typo
    assert catalog_problems(read_catalog("es")) == []
    assert catalog_problems(read_catalog("en")) == []
    assert catalog_problems(read_catalog("zh")) == ["stipend_late_subject: not translated"]
    assert catalog_problems(read_catalog("km")) == ["stipend_late_subject: not translated"]
    assert read_catalog("es").get(ENGLISH["stipend_late_subject"], context="stipend_late_subject").string == (
        "[{case}] Estipendio de {month} sin confirmar"
    )
    # The translations already there are kept, and the template names the new message.
    assert read_catalog("es").get(ENGLISH["greeting"], context="greeting").string == "Hola:"
    assert "stipend_late_subject" in (locales / "messages.pot").read_text(encoding="utf-8")
