"""Many rows written at once inside a session's transaction: COPY on PostgreSQL, the driver's
executemany on SQLite.

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

from sqlalchemy import JSON, Connection, Dialect, Table, TypeDecorator, bindparam, insert, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from remediation_flows.core.store.schema import Base


def _copy_value(column_type: Any, value: Any, dialect: Dialect) -> Any:
    """``value`` as the column stores it: through the type's own conversion (naive UTC for an
    instant, ciphertext for a protected value), then JSON as text and an enum as its value."""
    if isinstance(column_type, TypeDecorator):
        value = column_type.process_bind_param(value, dialect)
        column_type = column_type.impl_instance
    if isinstance(column_type, JSON):
        # None given for a JSON column is JSON null, as SQLAlchemy binds it (none_as_null is off).
        return json.dumps(value)
    if value is None:
        return None
    if isinstance(value, enum.Enum):
        return value.value
    return value


def _memoised(convert: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """``convert`` remembering what it made of each instant: a batch repeats a few (the sweep's
    "now" in every row), and converting one is most of the cost of writing it."""
    seen: dict[Any, Any] = {}

    def remembered(value: Any) -> Any:
        if isinstance(value, dt.datetime):
            if value not in seen:
                seen[value] = convert(value)
            return seen[value]
        return convert(value)

    return remembered


def _converter(column_type: Any, dialect: Dialect) -> Callable[[Any], Any] | None:
    """How a column's values are made ready for the driver, or None when they go as they are."""
    if dialect.name == "postgresql":
        if not isinstance(column_type, TypeDecorator | JSON) and not hasattr(column_type, "enum_class"):
            return None
        return _memoised(lambda value: _copy_value(column_type, value, dialect))
    # Elsewhere, SQLAlchemy's own bind processing for the dialect, as an INSERT would apply it.
    process = column_type.dialect_impl(dialect).bind_processor(dialect)
    return None if process is None else _memoised(process)


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
    dialect = connection.dialect
    converters = [
        (index, convert)
        for index, convert in enumerate(_converter(table.c[name].type, dialect) for name in names)
        if convert is not None
    ]

    def values_of(row: Mapping[str, Any]) -> list[Any]:
        values = [row[name] for name in names]
        for index, convert in converters:
            values[index] = convert(values[index])
        return values

    quoted = ", ".join(f'"{name}"' for name in names)
    if dialect.name != "postgresql":
        # The driver's executemany with the values SQLAlchemy would bind: its per-row statement
        # bookkeeping cost more than the insert itself.
        marks = ", ".join("?" for _ in names) if dialect.paramstyle == "qmark" else None
        if marks is None:
            connection.execute(insert(table), list(rows))
            return
        statement = f'INSERT INTO "{table.name}" ({quoted}) VALUES ({marks})'
        with _driver_cursor(connection, statement) as cursor:
            cursor.executemany(statement, [values_of(row) for row in rows])
        return
    statement = f'COPY "{table.name}" ({quoted}) FROM STDIN'
    with _driver_cursor(connection, statement) as cursor, cursor.copy(statement) as copy:
        for row in rows:
            copy.write_row(values_of(row))


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
        arrays.append([_copy_value(column_type, row[name], connection.dialect) for row in rows])
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


class DriverStatement:
    """One Core statement compiled once for a connection's dialect, run on the driver's own cursor.

    For a statement run thousands of times in a row with new values (the dispatcher's outcome of
    each message): SQLAlchemy's execution of a cached statement still builds a context, processes
    the parameters and wraps the result each time, which cost more than the UPDATE itself. The
    values are converted as SQLAlchemy would bind them (its bind processors for the dialect), and
    the SQL text is the one it compiles, casts included.
    """

    def __init__(self, statement: Any, dialect: Dialect) -> None:
        compiled = statement.compile(dialect=dialect)
        self.sql: str = compiled.string
        #: The parameters' names in the order the driver takes them (positional styles only).
        self.order: list[str] | None = list(compiled.positiontup) if compiled.positional else None
        #: Every parameter with the value the statement gives it (None where the caller must).
        required = {name: None for bind, name in compiled.bind_names.items() if bind.required}
        self.fixed: dict[str, Any] = dict(compiled.construct_params(required))
        self.converters: dict[str, Callable[[Any], Any]] = {}
        for bind, name in compiled.bind_names.items():
            process = bind.type.dialect_impl(dialect).bind_processor(dialect)
            if process is not None:
                self.converters[name] = process

    def execute(self, connection: Connection, values: Mapping[str, Any]) -> int:
        """Run the statement with ``values`` on ``connection``'s driver cursor; returns the rowcount.

        The caller owns the transaction: on a connection in autocommit the statement commits itself.
        """
        with _driver_cursor(connection, self.sql) as cursor:
            cursor.execute(self.sql, self._parameters(values))
            return int(cursor.rowcount)

    async def execute_async(self, cursor: Any, dialect: Dialect, values: Mapping[str, Any]) -> int:
        """Run the statement on ``cursor``, a cursor of the driver's own asyncio API.

        For a cursor of psycopg's ``AsyncConnection``, which the statement's dialect drives; the
        caller owns it, so that thousands of runs in a row share one. Errors are raised as
        SQLAlchemy's, as :meth:`execute` raises them.
        """
        dbapi = dialect.loaded_dbapi
        try:
            await cursor.execute(self.sql, self._parameters(values))
            return int(cursor.rowcount)
        except dbapi.Error as error:
            raise DBAPIError.instance(self.sql, None, error, dbapi.Error, dialect=dialect) from error

    def _parameters(self, values: Mapping[str, Any]) -> Any:
        merged = {**self.fixed, **values}
        for name, convert in self.converters.items():
            merged[name] = convert(merged[name])
        return [merged[name] for name in self.order] if self.order is not None else merged
