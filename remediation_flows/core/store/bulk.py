"""Many rows written at once inside a session's transaction: COPY on PostgreSQL, executemany elsewhere.

The sweep and the import write thousands of rows in one transaction. Through the ORM each row
costs its own Python bookkeeping and parameter processing; PostgreSQL's ``COPY`` takes them as one
stream on the session's own connection, so they still commit or roll back with everything else
the transaction did, and a unique or foreign key still refuses the whole statement.
"""

from __future__ import annotations

import datetime as dt
import enum
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, cast

from sqlalchemy import JSON, Connection, Table, bindparam, insert, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from remediation_flows.core.store.schema import Base, UTCDateTime


def _copy_value(column_type: Any, value: Any) -> Any:
    """``value`` as the column stores it: naive UTC for an instant, JSON text, an enum's value."""
    if value is None:
        return None
    if isinstance(column_type, UTCDateTime):
        if value.tzinfo is None:
            raise ValueError(f"refusing a naive datetime {value!r}: instants must carry a time zone")
        return value.astimezone(dt.UTC).replace(tzinfo=None)
    if isinstance(column_type, JSON):
        return json.dumps(value)
    if isinstance(value, enum.Enum):
        return value.value
    return value


def _converter(column_type: Any) -> Callable[[Any], Any] | None:
    """How a column's values are made ready for COPY, or None when they go as they are.

    A batch repeats few distinct instants (the sweep's "now" in every row), so each is converted
    once per statement.
    """
    if not isinstance(column_type, UTCDateTime | JSON) and not hasattr(column_type, "enum_class"):
        return None
    seen: dict[Any, Any] = {}

    def convert(value: Any) -> Any:
        if isinstance(value, dt.datetime):
            if value not in seen:
                seen[value] = _copy_value(column_type, value)
            return seen[value]
        return _copy_value(column_type, value)

    return convert


def insert_rows(session: Session, model: type[Base], rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert ``rows`` (dicts with the same keys) into ``model``'s table in the session's transaction."""
    table = cast(Table, model.__table__)
    if not rows:
        return
    names = list(rows[0])
    # COPY applies no Python-side default: a row must say every value the ORM would have filled in.
    defaulted = [c.name for c in table.columns if c.default is not None and c.name not in names]
    if defaulted:
        raise ValueError(f"rows for {table.name} must give {', '.join(defaulted)}")
    connection = session.connection()
    if connection.dialect.name != "postgresql":
        connection.execute(insert(table), list(rows))
        return
    converters = [
        (index, convert)
        for index, convert in enumerate(_converter(table.c[name].type) for name in names)
        if convert is not None
    ]
    quoted = ", ".join(f'"{name}"' for name in names)
    statement = f'COPY "{table.name}" ({quoted}) FROM STDIN'
    with _driver_cursor(connection, statement) as cursor, cursor.copy(statement) as copy:
        for row in rows:
            values = [row[name] for name in names]
            for index, convert in converters:
                values[index] = convert(values[index])
            copy.write_row(values)


def update_rows(session: Session, model: type[Base], key: str, rows: Sequence[Mapping[str, Any]]) -> None:
    """Set, for each row, its other columns on the row of ``model``'s table whose ``key`` matches.

    On PostgreSQL one statement joins the new values in from arrays; elsewhere an executemany.
    """
    if not rows:
        return
    table = cast(Table, model.__table__)
    names = [name for name in rows[0] if name != key]
    connection = session.connection()
    if connection.dialect.name != "postgresql":
        by_key = (
            update(table)
            .where(table.c[key] == bindparam(f"_{key}"))
            .values({name: bindparam(f"_{name}") for name in names})
        )
        connection.execute(by_key, [{f"_{name}": value for name, value in row.items()} for row in rows])
        return
    columns = [key, *names]
    arrays = []
    casts = []
    for name in columns:
        column_type = table.c[name].type
        arrays.append([_copy_value(column_type, row[name]) for row in rows])
        casts.append(f"%s::{column_type.compile(dialect=connection.dialect)}[]")
    assignments = ", ".join(f'"{name}" = v."{name}"' for name in names)
    quoted = ", ".join(f'"{name}"' for name in columns)
    statement = (
        f'UPDATE "{table.name}" SET {assignments} FROM unnest({", ".join(casts)}) AS v({quoted}) '
        f'WHERE "{table.name}"."{key}" = v."{key}"'
    )
    with _driver_cursor(connection, statement) as cursor:
        cursor.execute(statement, arrays)


@contextmanager
def _driver_cursor(connection: Connection, statement: str) -> Iterator[Any]:
    """A cursor of the driver on the session's connection; its errors raised as SQLAlchemy's.

    A duplicate key is then the same ``IntegrityError`` the ORM would have raised, which callers
    and tests rely on to tell a stale sweep from a broken one.
    """
    dbapi = connection.dialect.loaded_dbapi
    cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        yield cursor
    except dbapi.Error as error:
        raise DBAPIError.instance(statement, None, error, dbapi.Error, dialect=connection.dialect) from error
    finally:
        cursor.close()
