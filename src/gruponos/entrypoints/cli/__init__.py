"""The ``gruponos`` command line: an entrypoint that turns Results into exit codes and messages."""
