"""A database opened for gruponos: a dialect and one connection, shared by the sink, the in-sink
state store, the run history and the quarantine store (a lock serializes them), one transaction
per unit of work."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from returns.io import IOFailure, IOResult, IOSuccess

from gruponos.adapters.sql import ddl
from gruponos.adapters.sql.dialect import Dialect, cursor_of
from gruponos.domain.errors import DomainError

T = TypeVar("T")
E = TypeVar("E", bound=DomainError)


def utc_now() -> datetime:
    return datetime.now(UTC)


class SqlDatabase:
    """A dialect and the backend's connection, shared by its sink, state store and run history."""

    def __init__(
        self,
        dialect: Dialect,
        connection: Any,
        *,
        where: str,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.dialect = dialect
        self.conn = connection
        self.where = where  # a description without secrets, for error context
        self.clock = clock
        self.mutex = threading.RLock()
        self._closed = False
        self._meta_ready = False

    def run(
        self,
        error: Callable[[str, str, dict[str, Any]], E],
        code: str,
        context: dict[str, Any],
        work: Callable[[Any], T],
    ) -> IOResult[T, E]:
        """Run ``work(cursor)`` in one transaction: commit, or roll back and return a failure."""
        with self.mutex:
            # Opening (and closing) the cursor is inside the try: on a connection the server
            # dropped, even that raises the driver's error, which is a failure, not a crash.
            try:
                with cursor_of(self.conn) as cur:
                    self.dialect.begin(cur)
                    result = work(cur)
                    self.conn.commit()
            except self.dialect.driver_errors as exc:
                self.rollback()
                detail = self.dialect.error_reason(exc)
                return IOFailure(error(code, detail, {**context, "database": self.where}))
            except BaseException:
                self.rollback()
                raise
            return IOSuccess(result)

    def rollback(self) -> None:
        # A failed rollback means the connection is gone: nothing is left to undo.
        with contextlib.suppress(*self.dialect.driver_errors):
            self.conn.rollback()

    def ensure_meta(self, cur: Any) -> None:
        """Create the state, run history and quarantine tables once per backend.

        Safe when other sessions create them at the same time (two first runs): a missing table
        is made under the dialect's :meth:`~Dialect.ddl_guard`, after looking again.
        """
        if self._meta_ready:
            return
        for name, create in ddl.metadata_tables(self.dialect).items():
            if self.dialect.existing_columns(cur, name):
                continue
            with self.dialect.ddl_guard(self, name):
                if not self.dialect.existing_columns(cur, name):
                    self.execute_ddl(cur, create)
        self._meta_ready = True

    def execute_ddl(self, cur: Any, sql: str) -> bool:
        """Run ``sql``; ``False`` when another session had already done it."""
        try:
            cur.execute(sql)
        except self.dialect.driver_errors as exc:
            if not self.dialect.already_done(exc):
                raise
            return False
        return True

    def close(self) -> None:
        with self.mutex:
            if not self._closed:
                self._closed = True
                self.rollback()
                self.conn.close()
