"""``gruponos api``: the REST API that starts and watches runs (FastAPI, uvicorn).

:func:`gruponos.entrypoints.api.app.create_app` builds the application over a container; the
click group in :mod:`gruponos.entrypoints.api.cli` serves it and creates API keys. FastAPI and
the JWT library are imported by those modules only, never with ``gruponos``.
"""
