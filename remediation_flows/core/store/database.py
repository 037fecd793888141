"""Connecting to the case store and migrating its schema."""

from __future__ import annotations

import os
import sqlite3
import urllib.parse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from remediation_flows.core.errors import RemediationError

if TYPE_CHECKING:
    # Alembic is imported where a schema is checked or migrated, never by a flow's process: it cost
    # every flow run a third of a second to start (issue 15).
    from alembic.config import Config

DATABASE_URL_VARIABLE = "REMEDIATION_DATABASE_URL"
#: Where `remediate up` keeps everything, relative to the working directory.
DEFAULT_HOME = Path("var")
CASE_STORE_FILE = "remediation.db"
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


class StoreNotReady(RemediationError):
    """The case store is absent, unreachable or without the current schema; the message says the fix."""


def home_case_store_url(home: str | Path = DEFAULT_HOME) -> str:
    """The case store of a stack home: the SQLite file ``remediate up`` migrates and serves."""
    return f"sqlite:///{(Path(home) / CASE_STORE_FILE).resolve()}"


def database_url(url: str | None = None, *, home: str | Path | None = None) -> str:
    """The case store's URL: ``url``, else ``$REMEDIATION_DATABASE_URL``, else the stack home's store.

    The stack home is ``home`` or ``./var``, so that the commands run where `remediate up` runs
    read the store it serves.
    """
    return url or os.environ.get(DATABASE_URL_VARIABLE) or home_case_store_url(home or DEFAULT_HOME)


def display_url(url: str) -> str:
    """The URL without its password, fit for a message or a log."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url.split("@")[-1] if "@" in url else url


def _parse(url: str) -> URL:
    try:
        return make_url(url)
    except ArgumentError:
        raise StoreNotReady(
            f"'{display_url(url)}' is not a database URL (e.g. sqlite:///var/remediation.db or "
            "postgresql+psycopg://user@host:5432/remediation)"
        ) from None


def sqlite_file(url: str) -> Path | None:
    """The file of a SQLite URL; None for another database or an in-memory one."""
    parsed = _parse(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    if parsed.query.get("uri") in ("true", "1") or parsed.database.startswith("file:"):
        return None  # a SQLite URI names its file its own way; let SQLite judge it
    return Path(parsed.database)


def _schema_revision(url: str) -> tuple[bool, str | None]:
    """Whether the store has tables at all, and its Alembic revision; never creates a file."""
    path = sqlite_file(url)
    if path is not None:
        # mode=rw: SQLite must not create the file (a plain connect would), even if it vanished
        # since it was looked for.
        uri = f"file:{urllib.parse.quote(str(path.resolve()))}?mode=rw"
        database = sqlite3.connect(uri, uri=True, timeout=30)
        try:
            query = "SELECT name FROM sqlite_master WHERE type='table'"
            tables = {row[0] for row in database.execute(query)}
            revision = None
            if "alembic_version" in tables:
                row = database.execute("SELECT version_num FROM alembic_version").fetchone()
                revision = row[0] if row else None
        finally:
            database.close()
        return bool(tables), revision
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            names = inspect(connection).get_table_names()
            revision = None
            if "alembic_version" in names:
                revision = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
        return bool(names), revision
    finally:
        engine.dispose()


def check_store(url: str) -> None:
    """Raise :class:`StoreNotReady` unless the store exists and has the current schema.

    Called before a command reads the store, so that it explains itself in one line instead of a
    traceback, and so that a mistyped SQLite path leaves no empty file behind.
    """
    shown = display_url(url)
    fix = f"remediate db upgrade --url '{shown}'"
    path = sqlite_file(url)
    if path is not None and not path.is_file():
        raise StoreNotReady(
            f"no case store at {shown}: run `remediate up` here (or pass --url, --home or set "
            f"{DATABASE_URL_VARIABLE}), or create it with `{fix}`"
        )
    try:
        has_tables, revision = _schema_revision(url)
    except (SQLAlchemyError, sqlite3.Error, OSError) as error:
        reason = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
        raise StoreNotReady(f"cannot open the case store at {shown}: {reason}") from None
    if revision is None:
        what = "has tables but no schema version" if has_tables else "is empty (no schema)"
        raise StoreNotReady(f"the case store at {shown} {what}: create its schema with `{fix}`")
    from alembic.script import ScriptDirectory

    scripts = ScriptDirectory.from_config(alembic_config(url))
    head = scripts.get_current_head()
    if revision != head:
        if revision not in {script.revision for script in scripts.walk_revisions()}:
            raise StoreNotReady(
                f"the case store at {shown} has schema revision {revision}, which this version of "
                "remediation-flows does not know: install the version that migrated it"
            )
        raise StoreNotReady(
            f"the case store at {shown} has schema revision {revision}, not {head}: migrate it with `{fix}`"
        )


#: The execution option of a connection that only reads (see CaseStore.reading).
READ_ONLY = "remediation_read_only"


def make_engine(url: str | None = None, **options: Any) -> Engine:
    """An engine for the case store; SQLite gets foreign keys, WAL and a busy timeout."""
    url = database_url(url)
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30}, **options)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            # Let SQLAlchemy, not the sqlite3 module, decide when transactions begin.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _begin_immediate(connection: Any) -> None:
            # Take the write lock up front: two sweepers or dispatchers on one SQLite file then
            # run one after the other instead of both reading the same rows and one failing.
            # A read (CaseStore.reading) reads its WAL snapshot and never waits for the lock.
            read_only = connection.get_execution_options().get(READ_ONLY, False)
            connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

        return engine
    return create_engine(url, pool_pre_ping=True, **options)


def alembic_config(url: str | None = None) -> Config:
    """Alembic's configuration for this store's migrations."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # ConfigParser interpolation would read a '%' in a password as a directive.
    config.set_main_option("sqlalchemy.url", database_url(url).replace("%", "%%"))
    return config


def upgrade_schema(url: str | None = None, revision: str = "head") -> None:
    """Create the store if need be and bring its schema up to ``revision`` (default: the newest)."""
    path = sqlite_file(database_url(url))
    if path is not None:
        # Creating the store is this function's job; SQLite creates the file but not its folder.
        path.parent.mkdir(parents=True, exist_ok=True)
    from alembic import command

    command.upgrade(alembic_config(url), revision)
