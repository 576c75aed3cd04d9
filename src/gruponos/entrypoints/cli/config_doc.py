"""The configuration reference (docs/configuration.md), generated from the settings models.

``python -m gruponos.entrypoints.cli.config_doc docs/configuration.md`` rewrites the generated block
of that file; a test fails when the block is out of date or a setting has no meaning written.
"""

from __future__ import annotations

import sys
import types
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, SecretStr
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from gruponos.settings import ENV_PREFIX, Settings

BEGIN = (
    "<!-- BEGIN GENERATED: python -m gruponos.entrypoints.cli.config_doc docs/configuration.md -->"
)
END = "<!-- END GENERATED -->"

#: Meanings of the settings whose models carry no description (descriptions win when present).
MEANINGS: dict[str, str] = {
    "entities": "lgfapi entities to sync, comma-separated",
    "wms.base_url": "the WMS URL up to and including the environment path "
    "(`https://<pod>.wms.ocs.oraclecloud.com/<env>`); required",
    "wms.auth": "`basic` (HTTP Basic, most common) or `oauth2` (bearer tokens from Oracle Identity)",
    "wms.username": "WMS user (Basic auth, or the OAuth2 password grant)",
    "wms.password": "its password (secret)",
    "wms.oauth2.token_url": "token endpoint, `https://idcs-<tenant>.identity.oraclecloud.com/oauth2/v1/token`",
    "wms.oauth2.client_id": "OAuth2 client id",
    "wms.oauth2.client_secret": "OAuth2 client secret (secret)",
    "wms.oauth2.grant": "`client_credentials` (service users) or `password` (needs wms.username/password)",
    "wms.oauth2.scope": "OAuth2 scope of the lgfapi",
    "wms.page_size": "records per request (the API's maximum is 1250)",
    "wms.page_mode": "`sequenced` (keyset cursor; nothing skipped while data change) or `paged` (offset)",
    "wms.timeout_seconds": "read timeout of one request (the gateway gives up at 300 s)",
    "wms.max_attempts": "attempts per request on 429, 5xx, timeouts and resets (with backoff)",
    "wms.max_concurrency": "concurrent requests at most (Oracle advises fewer than 10 per user)",
    "wms.verify_tls": "verify the WMS's TLS certificate",
    "wms.filters": 'extra lgfapi filters on every read, e.g. `{"facility_id__code": "FAC1"}`',
    "wms.default_timezone": "IANA zone for timestamps without an offset (the API always sends one)",
    "sink.url": "the analytics database: `sqlite:///path.db`, `postgresql://user@host:port/db`, "
    "`oracle://user@host:port/service`",
    "sink.password": "database password, kept out of the URL (secret)",
    "sink.table_prefix": "prefix of the entity tables (`WMS_ORDER_HDR`); letters, digits, `_`",
    "sink.history": "also keep every version of every row in `<table>_HIST`",
    "state.kind": "where checkpoints live: `sink` (same transaction as the data), `file`, `meltano`",
    "state.path": "the JSON file of `state.kind = file`",
    "state.meltano_project_dir": "Meltano project of `state.kind = meltano`",
    "state.meltano_state_id": "Meltano state id (default: derived from the pipeline)",
    "sync.batch_size": "rows per write transaction",
    "sync.overlap_seconds": "incremental reads start this long before the checkpoint",
    "sync.max_reject_ratio": "share of quarantined records above which a run fails (exit 3)",
    "sync.full_pipeline": "state name of the full pipeline (separate deployments, separate bookmarks)",
    "sync.incremental_pipeline": "state name of the incremental pipeline",
    "log.format": "`json` lines, `console`, or `auto` (console on a terminal, JSON otherwise)",
    "log.level": "`debug`, `info`, `warning` or `error`",
}


def _type_name(annotation: Any) -> str:
    origin = get_origin(annotation)
    if origin is Literal:
        return " \\| ".join(f"`{a}`" for a in get_args(annotation))
    if origin in (Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        inner = " \\| ".join(_type_name(a) for a in args)
        return f"{inner} (optional)" if len(args) < len(get_args(annotation)) else inner
    if origin is tuple:
        return "list (comma-separated)"
    if origin is dict:
        return "mapping (TOML table / JSON)"
    if annotation is SecretStr:
        return "secret"
    if isinstance(annotation, type):
        return {
            "str": "text",
            "int": "integer",
            "float": "number",
            "bool": "boolean",
            "Path": "path",
        }.get(annotation.__name__, annotation.__name__)
    return str(annotation)


def _default(info: FieldInfo) -> str:
    value: Any = info.default
    if value is PydanticUndefined and info.default_factory is not None:
        value = info.default_factory()  # type: ignore[call-arg]
    if value is None or value is PydanticUndefined:
        return "—"
    if isinstance(value, tuple):
        return "`" + ",".join(map(str, value)) + "`"
    if isinstance(value, dict) and not value:
        return "—"
    return f"`{value}`"


def rows(
    model: type[BaseModel] = Settings, prefix: str = ""
) -> list[tuple[str, str, str, str, str]]:
    """(setting, environment variable, type, default, meaning) of every leaf setting."""
    found: list[tuple[str, str, str, str, str]] = []
    for name, info in model.model_fields.items():
        dotted = f"{prefix}{name}"
        annotation = info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            found += rows(annotation, f"{dotted}.")
            continue
        env = ENV_PREFIX + dotted.upper().replace(".", "__")
        meaning = MEANINGS.get(dotted) or info.description or ""
        found.append((dotted, env, _type_name(annotation), _default(info), meaning))
    return found


def reference() -> str:
    """The generated block (markers included)."""
    lines = [
        BEGIN,
        "",
        "| setting | environment variable | type | default | meaning |",
        "|---|---|---|---|---|",
    ]
    lines += [f"| `{s}` | `{e}` | {t} | {d} | {m} |" for s, e, t, d, m in rows()]
    return "\n".join([*lines, "", END])


def rewrite(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    start, end = text.index(BEGIN), text.index(END) + len(END)
    path.write_text(text[:start] + reference() + text[end:], encoding="utf-8")


if __name__ == "__main__":
    rewrite(Path(sys.argv[1]))
