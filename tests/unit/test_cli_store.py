"""Which case store the commands read, and what they say when it is missing or has no schema."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from remediation_flows.cli import main
from remediation_flows.core.store import CaseStore, upgrade_schema
from remediation_flows.core.store.schema import Case, OutboxMessage
from tests.conftest import EXAMPLES, fresh_postgres_database

# Every command that reads the store, without its store options.
READ_COMMANDS = {
    "overdue": ["overdue"],
    "outbox": ["outbox"],
    "due-diligence report": [
        *("due-diligence", "report", "northwind-apparel"),
        *("--year", "2026", "--out", "out"),
    ],
    "case identify": [
        "case",
        "identify",
        "CL-2026-000001",
        "--from-file",
        str(EXAMPLES / "garment_brand.yaml"),
        "--recorded-by",
        "pm@ngo.example",
    ],
}


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """An empty working directory and no $REMEDIATION_DATABASE_URL: only the defaults apply."""
    monkeypatch.delenv("REMEDIATION_DATABASE_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def one_error_line(capsys) -> str:
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert "Traceback" not in captured.err
    return lines[0]


@pytest.mark.parametrize("command", READ_COMMANDS)
def test_a_missing_sqlite_store_is_one_line_and_no_file(command, workdir, capsys):
    missing = workdir / "elsewhere" / "cases.db"
    assert main([*READ_COMMANDS[command], "--url", f"sqlite:///{missing}"]) == 2
    line = one_error_line(capsys)
    assert f"sqlite:///{missing}" in line
    assert "remediate db upgrade --url" in line and "remediate up" in line
    assert not missing.exists() and not missing.parent.exists()
    assert list(workdir.iterdir()) == []


@pytest.mark.parametrize("command", READ_COMMANDS)
def test_without_flags_the_commands_look_for_the_stack_store_and_create_nothing(command, workdir, capsys):
    assert main(READ_COMMANDS[command]) == 2
    line = one_error_line(capsys)
    assert f"sqlite:///{workdir / 'var' / 'remediation.db'}" in line
    assert list(workdir.iterdir()) == []  # neither var/ nor ./remediation.db


def test_the_environment_variable_comes_before_the_stack_home(workdir, monkeypatch, capsys):
    monkeypatch.setenv("REMEDIATION_DATABASE_URL", f"sqlite:///{workdir / 'from-env.db'}")
    assert main(["outbox"]) == 2
    assert "from-env.db" in one_error_line(capsys)
    assert list(workdir.iterdir()) == []


def test_an_empty_file_has_no_schema(workdir, capsys):
    (workdir / "empty.db").touch()
    assert main(["outbox", "--url", f"sqlite:///{workdir / 'empty.db'}"]) == 2
    line = one_error_line(capsys)
    assert "no schema" in line and "remediate db upgrade --url" in line


@pytest.mark.parametrize("command", READ_COMMANDS)
def test_an_empty_postgres_database_is_one_line_without_the_password(command, workdir, capsys):
    with fresh_postgres_database("remediation_noschema") as url:
        with_password = url.replace("postgres@", "postgres:s3cret@", 1)
        assert main([*READ_COMMANDS[command], "--url", with_password]) == 2
        line = one_error_line(capsys)
        database = url.rsplit("/", 1)[1]
        assert database in line and "no schema" in line and "remediate db upgrade --url" in line
        assert "s3cret" not in line
    assert list(workdir.iterdir()) == []


def test_outbox_and_overdue_read_the_stack_store_without_flags(workdir, capsys):
    store_file = workdir / "var" / "remediation.db"
    url = f"sqlite:///{store_file}"
    # The tour opens a case whose on-site assessment is due within 72 hours: overdue lists it.
    assert main(["tour", "--url", url]) == 0
    store = CaseStore(url)
    with store.transaction() as session:
        # The tour's case is notified now: its reference carries this year, not a year written here.
        [reference] = session.scalars(select(Case.reference)).all()
        session.add(
            OutboxMessage(
                message_id="<status-test@ngo.example>",
                kind="task",
                recipients=["focal@brand.example"],
                subject="a message waiting in the stack's store",
                body_text="-",
            )
        )
    store.dispose()
    capsys.readouterr()

    assert main(["outbox"]) == 0
    out = capsys.readouterr().out
    assert "pending: 1" in out and "a message waiting in the stack's store" in out

    assert main(["overdue"]) == 0
    out = capsys.readouterr().out
    assert reference.endswith("-000001") and reference in out and "on_site_assessment" in out
    assert [path.name for path in workdir.iterdir()] == ["var"]


def test_db_upgrade_creates_the_stack_store_on_purpose(workdir, capsys):
    assert main(["db", "upgrade"]) == 0
    assert (workdir / "var" / "remediation.db").is_file()
    assert main(["outbox"]) == 0


def test_cases_import_creates_and_fills_the_stack_store(workdir, capsys):
    rows = workdir / "cases.csv"
    rows.write_text(
        "legacy_reference,enterprise_id,site_id,notified_on,source,state\n"
        "OLD-3,northwind-apparel,hcmc-sew-02,2026-11-20,brand,on_site_assessment\n",
        encoding="utf-8",
    )
    config = ["--config", str(EXAMPLES / "garment_brand.yaml")]
    assert main(["cases", "import", str(rows), "--imported-by", "pm@ngo.example", *config]) == 0
    assert main(["overdue", "--as-of", "2026-11-21"]) == 0
    assert "CL-2026-000001" in capsys.readouterr().out


def test_a_store_migrated_elsewhere_with_home(workdir, capsys):
    upgrade_schema(f"sqlite:///{workdir / 'site-b' / 'remediation.db'}")
    assert main(["outbox", "--home", "site-b"]) == 0
    assert "pending: 0" in capsys.readouterr().out
