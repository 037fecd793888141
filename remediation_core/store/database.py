"""Connecting to the case store and migrating its schema."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event

DATABASE_URL_VARIABLE = "REMEDIATION_DATABASE_URL"
DEFAULT_DATABASE_URL = "sqlite:///remediation.db"
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def database_url(url: str | None = None) -> str:
    """The URL given, else ``$REMEDIATION_DATABASE_URL``, else a SQLite file in the working directory."""
    return url or os.environ.get(DATABASE_URL_VARIABLE) or DEFAULT_DATABASE_URL


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
            connection.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    return create_engine(url, pool_pre_ping=True, **options)


def alembic_config(url: str | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # ConfigParser interpolation would read a '%' in a password as a directive.
    config.set_main_option("sqlalchemy.url", database_url(url).replace("%", "%%"))
    return config


def upgrade_schema(url: str | None = None, revision: str = "head") -> None:
    """Bring the store's schema up to ``revision`` (default: the newest)."""
    command.upgrade(alembic_config(url), revision)
