from support.sqlsink import pg_url

__all__ = ["pg_url"]
