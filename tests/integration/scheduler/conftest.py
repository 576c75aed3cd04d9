"""Fixtures of the scheduler suites: a PostgreSQL schema per test."""

from support.sqlsink import pg_url

__all__ = ["pg_url"]
