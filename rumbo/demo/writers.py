"""Fast, correct bulk insertion of generated rows: one writer per database, plus the ORM for comparison.

Demo and benchmark data is written in bulk on purpose, bypassing the per-row services (which validate, audit
and reindex one person at a time and would take hours for a million persons). The generator is responsible
for producing rows the services would have produced (same search tokens, valid CURPs); the tests check that.

* ``SqliteWriter``: multi-row ``INSERT … VALUES (…), (…), …`` statements through the raw sqlite3
  connection. Django's ``bulk_create`` is limited to 999 parameters per statement on SQLite and builds a model
  instance per row; measured on the 2-core reference machine it is several times slower than this.
* ``PostgresCopyWriter``: ``COPY … FROM STDIN`` through psycopg 3's ``cursor.copy()``.
* ``OrmWriter``: ``Model.objects.bulk_create`` (used for the small demo set and to compare).

Rows are tuples whose order follows the ``columns`` given (model attribute names such as ``person_id``).
Columns the generator does not know about (a field another app adds later) are filled with the field's
default, so the writers keep working when the models grow.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from itertools import chain
from typing import Any

from django.db import DatabaseError, connection, models, transaction

Row = tuple[Any, ...]
_PARAMS_PER_STATEMENT = 4000


def _default_for(field: models.Field[Any, Any]) -> Any:
    if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
        from django.utils import timezone

        return timezone.now()
    return field.get_default()


class Writer:
    """Base: id allocation and the columns a model needs beyond the generated ones."""

    name = "base"

    def allocate_ids(self, model: type[models.Model], count: int) -> list[int]:
        """``count`` new primary keys for ``model``. Call inside the batch's transaction."""
        table = connection.ops.quote_name(model._meta.db_table)
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute(
                    "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
                    [model._meta.db_table, count],
                )
                return [r[0] for r in cursor.fetchall()]
            # SQLite: the batch transaction holds the write lock (BEGIN IMMEDIATE), so max(id) is stable.
            cursor.execute(f"SELECT COALESCE(MAX(id), 0) FROM {table}")  # noqa: S608 - quoted table name
            top = cursor.fetchone()[0]
            if connection.vendor == "sqlite":
                cursor.execute("SELECT seq FROM sqlite_sequence WHERE name = %s", [model._meta.db_table])
                seq = cursor.fetchone()
                top = max(top, seq[0] if seq else 0)
        return list(range(top + 1, top + 1 + count))

    def reserve_ids(self, model: type[models.Model], count: int) -> list[int]:
        """``count`` primary keys for ``model`` that no other writer will take, usable in later
        transactions (an import knows its persons' ids before it writes them). Call outside a transaction.

        PostgreSQL: drawn from the sequence. SQLite: the table's AUTOINCREMENT counter is moved past them in
        one short write transaction, so every insert without an id, and every ``allocate_ids``, lands after
        them. Ids reserved and not used stay unused."""
        if count <= 0:
            return []
        if connection.vendor != "sqlite":
            return self.allocate_ids(model, count)
        name = model._meta.db_table
        with transaction.atomic(), connection.cursor() as cursor:
            ids = self.allocate_ids(model, count)
            cursor.execute("UPDATE sqlite_sequence SET seq = %s WHERE name = %s", [ids[-1], name])
            if cursor.rowcount == 0:
                cursor.execute("INSERT INTO sqlite_sequence (name, seq) VALUES (%s, %s)", [name, ids[-1]])
        return ids

    def datetime(self, value: datetime) -> Any:
        return value

    def json(self, value: Any) -> Any:
        return json.dumps(value)

    def write(self, model: type[models.Model], columns: Sequence[str], rows: list[Row]) -> None:
        raise NotImplementedError

    @staticmethod
    def missing_fields(model: type[models.Model], columns: Sequence[str]) -> list[models.Field[Any, Any]]:
        given = set(columns)
        return [
            f
            for f in model._meta.concrete_fields
            if f.attname not in given and not (f.primary_key and isinstance(f, models.AutoField))
        ]


class SqliteWriter(Writer):
    name = "sqlite"

    def __init__(self) -> None:
        self._statements: dict[tuple[str, int], str] = {}

    def datetime(self, value: datetime) -> Any:
        return connection.ops.adapt_datetimefield_value(value)

    def write(self, model: type[models.Model], columns: Sequence[str], rows: list[Row]) -> None:
        if not rows:
            return
        fields = {f.attname: f for f in model._meta.concrete_fields}
        extra = self.missing_fields(model, columns)
        names = [fields[c].column for c in columns] + [f.column for f in extra]
        if extra:
            tail = tuple(f.get_db_prep_save(_default_for(f), connection) for f in extra)
            rows = [row + tail for row in rows]
        width = len(names)
        per = max(1, _PARAMS_PER_STATEMENT // width)
        raw = connection.connection  # bypass Django's cursor wrapper: no per-statement logging or rewriting
        cursor = raw.cursor()
        try:
            full = len(rows) // per * per
            if full:
                sql = self._sql(model, names, per)
                cursor.executemany(
                    sql, [list(chain.from_iterable(rows[i : i + per])) for i in range(0, full, per)]
                )
            if full < len(rows):
                rest = rows[full:]
                cursor.execute(self._sql(model, names, len(rest)), list(chain.from_iterable(rest)))
        finally:
            cursor.close()

    def _sql(self, model: type[models.Model], names: list[str], count: int) -> str:
        key = (model._meta.db_table, count)
        sql = self._statements.get(key)
        if sql is None:
            qn = connection.ops.quote_name
            group = "(" + ",".join("?" * len(names)) + ")"
            sql = (
                f"INSERT INTO {qn(model._meta.db_table)} ({','.join(qn(n) for n in names)}) VALUES "  # noqa: S608
                + ",".join([group] * count)
            )
            self._statements[key] = sql
        return sql


class PostgresCopyWriter(Writer):
    name = "postgresql-copy"

    def datetime(self, value: datetime) -> Any:
        # As text: COPY parses it once per row either way, and psycopg's dumper for aware datetimes costs
        # a microsecond a value (a fifth of writing a person's row).
        return value.isoformat()

    def write(self, model: type[models.Model], columns: Sequence[str], rows: list[Row]) -> None:
        if not rows:
            return
        fields = {f.attname: f for f in model._meta.concrete_fields}
        extra = self.missing_fields(model, columns)
        names = [fields[c].column for c in columns] + [f.column for f in extra]
        tail = tuple(_copy_value(f.get_db_prep_save(_default_for(f), connection)) for f in extra)
        qn = connection.ops.quote_name
        statement = f"COPY {qn(model._meta.db_table)} ({','.join(qn(n) for n in names)}) FROM STDIN"
        with connection.connection.cursor() as cursor, cursor.copy(statement) as copy:
            write_row = copy.write_row
            if tail:
                for row in rows:
                    write_row(row + tail)
            else:
                for row in rows:
                    write_row(row)


def _copy_value(value: Any) -> Any:
    # psycopg's Jsonb wrapper (a JSONField default) is written as its JSON text.
    obj = getattr(value, "obj", None)
    if obj is not None and type(value).__name__ == "Jsonb":
        return json.dumps(obj)
    return value


class OrmWriter(Writer):
    """``bulk_create`` of model instances. ``auto_now``/``auto_now_add`` are switched off while writing so
    the generated registration dates survive (they are spread over past months, like a real registry)."""

    name = "orm"

    def __init__(self, batch_size: int = 2000) -> None:
        self.batch_size = batch_size

    def json(self, value: Any) -> Any:
        return value

    def write(self, model: type[models.Model], columns: Sequence[str], rows: list[Row]) -> None:
        if not rows:
            return
        objs = [model(**dict(zip(columns, row, strict=True))) for row in rows]
        with _keep_timestamps(model, columns):
            model._default_manager.bulk_create(objs, batch_size=self.batch_size)


@contextmanager
def _keep_timestamps(model: type[models.Model], columns: Sequence[str]) -> Iterator[None]:
    changed: list[tuple[Any, str]] = []
    for f in model._meta.concrete_fields:
        if f.attname not in columns:
            continue
        for attr in ("auto_now", "auto_now_add"):
            if getattr(f, attr, False):
                setattr(f, attr, False)
                changed.append((f, attr))
    try:
        yield
    finally:
        for f, attr in changed:
            setattr(f, attr, True)


def _table_indexes(table: str) -> list[tuple[str, str]]:
    """(name, CREATE statement) of the non-unique secondary indexes of ``table``.

    All of them, even those that only ever grow at their end (by person id): measured at a million persons,
    keeping those made the load slower than rebuilding them."""
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute(
                "SELECT name, sql FROM sqlite_master"
                " WHERE type = 'index' AND tbl_name = %s AND sql IS NOT NULL",
                [table],
            )
        elif connection.vendor == "postgresql":
            cursor.execute(
                "SELECT indexname, indexdef FROM pg_indexes"
                " WHERE schemaname = current_schema() AND tablename = %s",
                [table],
            )
        else:
            return []
        rows = cursor.fetchall()
    return [(name, sql) for name, sql in rows if sql.upper().startswith("CREATE INDEX ")]


def restore_indexes() -> int:
    """Rebuild every index a bulk load dropped and has not rebuilt (e.g. because it was interrupted)."""
    from rumbo.demo.models import DroppedIndex

    restored = 0
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("PRAGMA threads = 2")  # let SQLite sort with a helper thread
        elif connection.vendor == "postgresql":
            cursor.execute("SET maintenance_work_mem = '512MB'")
            if connection.in_atomic_block:  # index DDL refuses to run with deferred FK checks pending
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        for dropped in DroppedIndex.objects.order_by("id"):
            sql = dropped.sql
            if sql.upper().startswith("CREATE INDEX ") and "IF NOT EXISTS" not in sql.upper():
                sql = "CREATE INDEX IF NOT EXISTS " + sql[len("CREATE INDEX ") :]
            cursor.execute(sql)
            dropped.delete()
            restored += 1
    return restored


def _pg_skip_triggers(skip: bool) -> bool:
    """PostgreSQL: switch foreign-key checks (triggers) off for this session, or back on.

    Checking 10 million deferred foreign keys at commit time costs more than the whole load; the
    generator's keys are correct by construction. Needs a superuser (the default local setup); without
    that right nothing changes and the checks simply run."""
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(f"SET session_replication_role = {'replica' if skip else 'DEFAULT'}")
    except DatabaseError:
        return False
    return True


@contextmanager
def bulk_load(models_: Sequence[type[models.Model]], *, drop_indexes: bool) -> Iterator[None]:
    """Around a bulk load: optionally drop the secondary indexes of the loaded tables and rebuild them at the
    end; on SQLite also skip foreign-key checks (the generator's keys are correct by construction)."""
    from rumbo.demo.models import DroppedIndex

    restore_indexes()
    if not drop_indexes:
        yield
        return
    sqlite_fk = connection.vendor == "sqlite" and not connection.in_atomic_block
    pg_replica = connection.vendor == "postgresql" and _pg_skip_triggers(True)
    with connection.cursor() as cursor:
        if sqlite_fk:
            cursor.execute("PRAGMA foreign_keys = OFF")
        if connection.vendor == "postgresql" and connection.in_atomic_block:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        for model in models_:
            table = model._meta.db_table
            for name, sql in _table_indexes(table):
                DroppedIndex.objects.update_or_create(name=name, defaults={"table": table, "sql": sql})
                cursor.execute(f"DROP INDEX {connection.ops.quote_name(name)}")
    try:
        yield
    finally:
        restore_indexes()
        if pg_replica:
            _pg_skip_triggers(False)
        if sqlite_fk:
            with connection.cursor() as cursor:
                cursor.execute("PRAGMA foreign_keys = ON")


def writer_for(kind: str = "auto") -> Writer:
    """``auto`` picks the fast writer of the current database; ``orm`` forces ``bulk_create``."""
    if kind == "orm":
        return OrmWriter()
    if connection.vendor == "sqlite":
        return SqliteWriter()
    if connection.vendor == "postgresql":
        return PostgresCopyWriter()
    return OrmWriter()
