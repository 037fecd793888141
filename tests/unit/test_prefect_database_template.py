"""A new stack's Prefect database starts from a migrated empty one (stack/prefect_database_template.py)."""

from __future__ import annotations

import sqlite3
import tempfile
from pathlib import Path

import pytest

from remediation_flows.stack import prefect_database_template as template


@pytest.fixture(autouse=True)
def temporary_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def _prefect_database(path: Path, flow_runs: int = 0) -> Path:
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE alembic_version (version_num TEXT)")
        connection.execute("INSERT INTO alembic_version VALUES ('head')")
        connection.execute("CREATE TABLE block_type (slug TEXT)")
        connection.execute("INSERT INTO block_type VALUES ('secret')")
        connection.execute("CREATE TABLE flow_run (name TEXT)")
        connection.executemany("INSERT INTO flow_run VALUES (?)", [(f"CL-{n}",) for n in range(flow_runs)])
    connection.close()
    return path


def _rows(path: Path, table: str) -> list[tuple]:
    connection = sqlite3.connect(path)
    try:
        return connection.execute(f"SELECT * FROM {table}").fetchall()
    finally:
        connection.close()


def test_the_first_new_home_keeps_its_empty_database_and_the_next_starts_from_it(tmp_path: Path) -> None:
    first, second = tmp_path / "first.db", tmp_path / "second.db"
    assert not template.seed_from_template(first)  # nothing kept yet: the server migrates
    _prefect_database(first)
    assert template.keep_as_template(first)
    assert template.template_path().stat().st_mode & 0o777 == 0o600
    assert template.seed_from_template(second)
    assert _rows(second, "alembic_version") == [("head",)]
    assert _rows(second, "block_type") == [("secret",)]
    assert not template.keep_as_template(second)  # one is kept; the first stays


def test_a_database_that_holds_a_stacks_own_rows_is_never_kept(tmp_path: Path) -> None:
    used = _prefect_database(tmp_path / "used.db", flow_runs=1)
    assert not template.keep_as_template(used)
    assert not template.template_path().exists()
    not_prefect = tmp_path / "other.db"
    sqlite3.connect(not_prefect).close()
    assert not template.keep_as_template(not_prefect)
    assert not template.template_path().exists()


def test_an_existing_home_database_is_never_replaced(tmp_path: Path) -> None:
    template.keep_as_template(_prefect_database(tmp_path / "empty.db"))
    home = _prefect_database(tmp_path / "home.db", flow_runs=3)
    assert not template.seed_from_template(home)
    assert len(_rows(home, "flow_run")) == 3
