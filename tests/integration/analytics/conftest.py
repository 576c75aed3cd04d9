"""Fixtures of the SQL sink suites; the helpers live in ``tests/support/sqlsink.py``."""

from support.sqlsink import db_url, open_backend, pg_url

__all__ = ["db_url", "open_backend", "pg_url"]
