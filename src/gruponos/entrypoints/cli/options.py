"""Options several commands share, written once."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]

#: ``--json``: machine-readable output on stdout.
JSON = click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")


def entities(
    help_text: str = "Only this entity (repeatable); default: GRUPONOS_ENTITIES.",
) -> Decorator:
    """``--entity/-e ENTITY`` (repeatable) into the ``entities`` parameter."""
    return click.option(
        "--entity", "-e", "entities", multiple=True, metavar="ENTITY", help=help_text
    )
