"""The outermost floor: the programs people and schedulers start.

Only code here reads the process environment, parses arguments, installs signal handlers and
unwraps results into exit codes and messages. Each entrypoint resolves what it needs from the one
composition root (:mod:`gruponos.container`):

- :mod:`gruponos.entrypoints.cli`: the ``gruponos`` command;
- :mod:`gruponos.entrypoints.singer`: the ``tap-gruponos`` and ``target-gruponos`` executables.
"""
