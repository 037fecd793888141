"""A new stack's Prefect database starts as a copy of an empty one that is already migrated.

Prefect's server migrates a new SQLite database at its first start: about 7 s of CPU, on every new
home, and so on every `remediate demo` (a throwaway stack). The first stack of a Prefect version
keeps a snapshot of its database as soon as the server answers (schema and Prefect's own block
types, nothing of the stack's), in the system's temporary folder; a later new home starts from a copy
of it, and its server finds the schema current.

Only a snapshot that holds nothing but the schema version and Prefect's block types is kept, so that
no stack's runs, blocks or logs can reach another's home.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import os
import shutil
import sqlite3
import tempfile
from pathlib import Path

#: The tables a new Prefect server fills by itself before anyone uses it.
PREFECTS_OWN_TABLES = frozenset({"alembic_version", "block_type", "block_schema", "block_schema_reference"})


def template_path() -> Path:
    """Where this user's snapshot for the installed Prefect version is kept."""
    version = importlib.metadata.version("prefect")
    return Path(tempfile.gettempdir()) / f"remediation-flows-prefect-{version}-{os.getuid()}.db"


def seed_from_template(database: Path) -> bool:
    """Copy the snapshot to ``database`` if that does not exist yet; says whether it did."""
    template = template_path()
    if database.exists() or not template.exists():
        return False
    partial = database.with_name(database.name + ".seeding")
    shutil.copyfile(template, partial)
    os.replace(partial, database)
    return True


def keep_as_template(database: Path) -> bool:
    """Snapshot ``database`` as the template, if there is none yet and it holds only Prefect's own rows."""
    template = template_path()
    if template.exists() or not database.exists():
        return False
    partial = template.with_name(f"{template.name}.{os.getpid()}")
    with contextlib.closing(sqlite3.connect(f"{database.resolve().as_uri()}?mode=ro", uri=True)) as source:
        if not _holds_only_prefects_own_rows(source):
            return False
        with contextlib.closing(sqlite3.connect(partial)) as copy:
            source.backup(copy)
    partial.chmod(0o600)
    os.replace(partial, template)  # whole or not at all, whichever stack gets there first
    return True


def _holds_only_prefects_own_rows(connection: sqlite3.Connection) -> bool:
    tables = [name for (name,) in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    if "alembic_version" not in tables:
        return False
    others = [name for name in tables if name not in PREFECTS_OWN_TABLES and not name.startswith("sqlite_")]
    return all(connection.execute(f'SELECT 1 FROM "{table}" LIMIT 1').fetchone() is None for table in others)
