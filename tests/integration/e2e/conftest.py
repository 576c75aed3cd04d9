from support.sqlsink import db_url, pg_url

__all__ = ["db_url", "pg_url"]
