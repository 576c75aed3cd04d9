"""Run executors (:class:`~gruponos.application.ports.RunExecutor`): in-process (``local``);
distributed workers come beside it."""
