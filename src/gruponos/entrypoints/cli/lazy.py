"""A click group whose subcommands are imported when they are run, not when ``gruponos`` starts.

Every run pays for the imports of the command line it builds: with every subcommand imported
eagerly, ``gruponos --version`` and ``gruponos sync`` also loaded the simulator's HTTP server,
the API service's command, the table administration and the demo (issue 21). Listing the
commands (``--help``) still imports them all, for their short help.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

import click


class LazyGroup(click.Group):
    """A :class:`click.Group` that also knows commands by name and ``module:attribute``.

    >>> group = LazyGroup(lazy_commands={"sync": "gruponos.entrypoints.cli.sync_cmd:sync"})
    """

    def __init__(
        self,
        *args: Any,
        lazy_commands: Mapping[str, str] | None = None,
        before_import: Callable[[str], None] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.lazy_commands = dict(lazy_commands or {})
        #: called with a lazy command's name whenever it is looked up, before its module is
        #: imported the first time
        self.before_import = before_import

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy_commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if self.before_import is not None and cmd_name in self.lazy_commands:
            self.before_import(cmd_name)
        if cmd_name not in self.commands and cmd_name in self.lazy_commands:
            module, _, attribute = self.lazy_commands[cmd_name].partition(":")
            command = getattr(importlib.import_module(module), attribute)
            if not isinstance(command, click.Command):  # a wrong entry in the table: a bug
                msg = f"{self.lazy_commands[cmd_name]} is not a click command"
                raise TypeError(msg)
            self.add_command(command, cmd_name)
        return super().get_command(ctx, cmd_name)
