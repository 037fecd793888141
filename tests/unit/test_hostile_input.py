"""Input built to hurt: each is one clear line on stderr, exit 2, nothing written, in bounded time and memory.

Each command runs in a child process under an address-space limit and a timeout, so that a
regression shows as a failed test rather than a machine out of memory. Before these bounds,
the alias bomb grew past 1.5 GB, the 100,000-row workbook took 130 s and printed 800,000
lines, the deep nesting crashed the interpreter, and the rest ended in tracebacks.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from jsonschema import Draft202012Validator

from remediation_flows.core.config.loader import load_schema, schema_errors
from remediation_flows.core.untrusted_input import PRINTED_PROBLEMS
from tests.conftest import EXAMPLES, ROOT

MEMORY_LIMIT = 1024 * 1024 * 1024  # address space, bytes: a normal run stays well below
TIME_LIMIT = 60  # seconds, generous for a loaded 2-core machine; a normal run takes 2 to 3
CHILD_NAME = "Rina Akter"
CHILD_BIRTH_DATE = "09/01/2013"


@dataclass
class Outcome:
    status: int
    out: str
    err: str

    @property
    def error_lines(self) -> list[str]:
        return self.err.splitlines()


def _bounded() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def remediate(*args: str, store: Path) -> Outcome:
    """Run ``remediate ARGS`` in a child process under the memory and time bounds."""
    environment = dict(os.environ, REMEDIATION_DATABASE_URL=f"sqlite:///{store}")
    result = subprocess.run(
        [sys.executable, "-m", "remediation_flows.cli", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=environment,
        preexec_fn=_bounded,
        timeout=TIME_LIMIT,
    )
    return Outcome(result.returncode, result.stdout, result.stderr)


@pytest.fixture
def store(tmp_path: Path) -> Path:
    """Where the case store would be; a refused import must not create it."""
    return tmp_path / "cases.db"


def refused_in_one_line(outcome: Outcome) -> str:
    assert outcome.status == 2, outcome.err[-2000:]
    assert "Traceback" not in outcome.err
    assert len(outcome.error_lines) == 1, outcome.err[:2000]
    line = outcome.error_lines[0]
    assert len(line) < 400
    return line


def test_an_alias_bomb_is_refused_without_expanding_it(tmp_path, store):
    document = yaml.safe_load((EXAMPLES / "garment_brand.yaml").read_text(encoding="utf-8"))
    text = yaml.safe_dump(document, allow_unicode=True, sort_keys=False)
    laughs = ['lol0: &lol0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for level in range(1, 10):
        laughs.append(f"lol{level}: &lol{level} [{', '.join([f'*lol{level - 1}'] * 9)}]")
    bomb = tmp_path / "bomb.yaml"
    # The bomb hangs off an extra key and goes off in a typed field, the enterprise's name.
    bomb.write_text(
        "x-laughs:\n  "
        + "\n  ".join(laughs)
        + "\n"
        + text.replace("name: Northwind Apparel Ltd", "name: *lol9"),
        encoding="utf-8",
    )
    line = refused_in_one_line(remediate("config", "validate", str(bomb), store=store))
    assert line.startswith(f"{bomb}: $: YAML does not parse at line ")
    assert "aliases expand the document by more than 100,000 values" in line


def test_deep_nesting_is_refused_not_a_crash(tmp_path, store):
    deep = tmp_path / "deep.yaml"
    deep.write_text("enterprise: " + "[" * 100_000 + "]" * 100_000 + "\n", encoding="utf-8")
    line = refused_in_one_line(remediate("config", "validate", str(deep), store=store))
    assert line.startswith(f"{deep}: $: YAML does not parse at line 1, column ")
    assert "nests deeper than 64 levels" in line


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("", "an empty document"),
        ("# nothing but a comment\n", "an empty document"),
        ("- a\n- b\n- c\n", "a list of 3 item(s)"),
    ],
)
def test_a_document_that_is_not_a_mapping_says_what_was_expected(tmp_path, store, text, found):
    path = tmp_path / "programme.yaml"
    path.write_text(text, encoding="utf-8")
    line = refused_in_one_line(remediate("config", "validate", str(path), store=store))
    assert line == (
        f"{path}: $: expected a mapping with the sections enterprise, contacts, sites, remediation, "
        f"due_diligence; found {found}"
    )


def test_a_long_value_is_quoted_as_an_excerpt(tmp_path, store):
    document = yaml.safe_load((EXAMPLES / "garment_brand.yaml").read_text(encoding="utf-8"))
    document["enterprise"]["language"] = ["x" * 1000] * 1000
    path = tmp_path / "long.yaml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    outcome = remediate("config", "validate", str(path), store=store)
    assert outcome.status == 2
    assert "x" * 100 not in outcome.err
    assert all(len(line) < 400 for line in outcome.error_lines)
    assert any(
        line.startswith(f"{path}: $.enterprise.language: <a list of 1000 items>")
        for line in outcome.error_lines
    )


def test_a_programme_that_is_not_utf8_names_the_byte_offset(tmp_path, store):
    path = tmp_path / "latin1.yaml"
    text = (EXAMPLES / "garment_brand.yaml").read_text(encoding="utf-8")
    path.write_bytes(
        text.replace("Northwind Apparel Ltd", "Northwind Apparel Ltd – Bogotá").encode("latin-1", "replace")
    )
    offset = text.index("Northwind Apparel Ltd") + len("Northwind Apparel Ltd ? Bogot")
    line = refused_in_one_line(remediate("config", "validate", str(path), store=store))
    assert line == (
        f"{path}: $: not UTF-8 text: byte 0xe1 at offset {offset} (save the file as UTF-8 and try again)"
    )


def test_a_csv_that_is_not_utf8_names_the_byte_offset_and_creates_no_store(tmp_path, store):
    path = tmp_path / "cases.csv"
    data = b"legacy_reference,enterprise_id\nOLD-1,caf\xe9\n"
    path.write_bytes(data)
    outcome = remediate("cases", "import", str(path), "--imported-by", "pm@ngo.example", store=store)
    assert outcome.status == 2 and "Traceback" not in outcome.err
    offset = data.index(0xE9)
    assert outcome.error_lines[0] == (
        f"{path}: row 0: file: not UTF-8 text: byte 0xe9 at offset {offset} "
        "(save the file as UTF-8 and try again)"
    )
    assert outcome.error_lines[1:] == ["remediate: nothing was imported"]
    assert not store.exists()


def test_a_deadline_beyond_the_calendar_is_one_line(store):
    outcome = remediate(
        "deadline",
        "--config",
        str(EXAMPLES / "garment_brand.yaml"),
        "--site",
        "dhaka-knit-01",
        "--step",
        "on_site_assessment",
        "--from",
        "9999-12-31T10:00+08:00",
        store=store,
    )
    line = refused_in_one_line(outcome)
    assert line == (
        "remediate: a deadline of 72 hours from 9999-12-31T10:00:00+08:00 falls outside the calendar "
        "(years 1 to 9999)"
    )


def test_an_xlsx_of_100000_rows_is_refused_unread(tmp_path, store):
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet()
    for number in range(100_000):
        sheet.append([f"r{number}"])
    path = tmp_path / "many.xlsx"
    book.save(path)
    assert path.stat().st_size < 1024 * 1024
    outcome = remediate("cases", "import", str(path), "--imported-by", "pm@ngo.example", store=store)
    assert outcome.status == 2 and "Traceback" not in outcome.err
    assert outcome.error_lines == [
        f"{path}: row 50002: file: more than 50,000 rows below the header; split the sheet",
        "remediate: nothing was imported",
    ]
    assert not store.exists()


def test_an_xlsx_that_unpacks_too_far_is_refused_unread(tmp_path, store):
    path = tmp_path / "zipbomb.xlsx"
    with (
        zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive,
        archive.open("xl/worksheets/sheet1.xml", "w") as member,
    ):
        for _ in range(130):
            member.write(b" " * (1024 * 1024))
    assert path.stat().st_size < 1024 * 1024
    outcome = remediate("cases", "import", str(path), "--imported-by", "pm@ngo.example", store=store)
    assert outcome.status == 2 and "Traceback" not in outcome.err
    assert outcome.error_lines[0].startswith(f"{path}: row 0: file: unpacks to 136,314,880 bytes, more than ")
    assert not store.exists()


def test_a_wide_or_broken_csv_is_one_line(tmp_path, store):
    wide = tmp_path / "wide.csv"
    wide.write_text(",".join(f"c{i}" for i in range(5000)) + "\n1\n", encoding="utf-8")
    outcome = remediate("cases", "import", str(wide), "--imported-by", "pm@ngo.example", store=store)
    assert outcome.status == 2
    assert (
        outcome.error_lines[0]
        == f"{wide}: row 1: file: 5000 columns; at most 32 are read (the intake has 13)"
    )
    huge_field = tmp_path / "field.csv"
    huge_field.write_text("legacy_reference\n" + "x" * 200_000 + "\n", encoding="utf-8")
    outcome = remediate("cases", "import", str(huge_field), "--imported-by", "pm@ngo.example", store=store)
    assert outcome.status == 2 and "Traceback" not in outcome.err
    assert outcome.error_lines[0].startswith(f"{huge_field}: row 2: file: not readable as CSV: field larger")
    assert not store.exists()


def test_many_bad_rows_print_a_capped_list_that_never_shows_a_child(tmp_path, store):
    header = "legacy_reference,enterprise_id,site_id,notified_on,source,state,full_name,birth_date"
    rows = [
        f"OLD-{n},northwind-apparel,dhaka-knit-01,2026-03-02,rumour,on_site_assessment,{CHILD_NAME},{CHILD_BIRTH_DATE}"
        for n in range(2000)
    ]
    path = tmp_path / "bad.csv"
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    outcome = remediate(
        "cases",
        "import",
        str(path),
        "--imported-by",
        "pm@ngo.example",
        "--config",
        str(EXAMPLES / "garment_brand.yaml"),
        store=store,
    )
    assert outcome.status == 2 and "Traceback" not in outcome.err
    lines = outcome.error_lines
    # Two problems a row (the source, the birth date), the first PRINTED_PROBLEMS shown.
    assert len(lines) == PRINTED_PROBLEMS + 2
    assert lines[0].startswith(f"{path}: row 2: birth_date: the value does not match ")
    assert lines[1].startswith(f"{path}: row 2: source: 'rumour' is not one of")
    assert lines[-2] == f"remediate: ... and {4000 - PRINTED_PROBLEMS} more problem(s) not shown"
    assert lines[-1] == "remediate: 4000 problem(s); nothing was imported"
    assert CHILD_NAME not in outcome.err and CHILD_BIRTH_DATE not in outcome.err


BROKEN_ROWS = [
    {
        "enterprise_id": "Bad Id",
        "site_id": "s",
        "notified_on": "2026-01-01",
        "source": "audit",
        "state": "closed",
    },
    {
        "enterprise_id": "x",
        "site_id": "",
        "notified_on": "2026-1-1",
        "source": "rumour",
        "state": "monitoring",
    },
    {
        "enterprise_id": "x",
        "site_id": "s",
        "notified_on": "2026-01-01",
        "source": "audit",
        "state": "on_site_assessment",
        "age_years": True,
    },
    {
        "enterprise_id": "x",
        "site_id": "s",
        "notified_on": "2026-01-01",
        "source": "audit",
        "state": "on_site_assessment",
        "age_years": 4.5,
    },
    {
        "enterprise_id": "x",
        "site_id": "s",
        "notified_on": "2026-01-01",
        "source": "audit",
        "state": "on_site_assessment",
        "extra": 1,
    },
    {
        "enterprise_id": "x",
        "site_id": "s",
        "notified_on": "2026-01-01",
        "source": "audit",
        "state": "on_site_assessment",
        "case_manager": "no at sign",
    },
]


@pytest.mark.parametrize("row", BROKEN_ROWS)
def test_the_fast_validity_check_never_passes_what_the_full_validator_refuses(row):
    expected = list(Draft202012Validator(load_schema("case_intake.schema.json")).iter_errors(row))
    assert expected, "a broken row the schema accepts proves nothing"
    assert [e.message for e in schema_errors(row, "case_intake.schema.json")] == [e.message for e in expected]
