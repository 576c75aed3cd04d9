"""Committing a batch with its checkpoint when the checkpoints live outside the sink.

The sync use case commits through the :class:`~gruponos.application.ports.BatchCommit` port and
never asks where the state lives. The composition root picks the implementation: the sink itself
when the checkpoints live in its database (batch and checkpoint in one transaction), or
:class:`SaveAfterCommit` around the sink and a state store kept elsewhere (a file, Meltano).
"""

from __future__ import annotations

from returns.io import IOResult

from gruponos.application.errors import PortError
from gruponos.application.ports import RecordSink, StateStore
from gruponos.domain.batches import Batch, WriteOutcome
from gruponos.domain.checkpoints import Checkpoint, StateKey


class SaveAfterCommit:
    """:class:`~gruponos.application.ports.BatchCommit` over a sink and a separate state store:
    the sink commits the batch, then the store saves the checkpoint.

    Data first: a crash (or a failed save) between the two leaves the checkpoint behind the
    committed data, never ahead of it; the next run re-reads those records and the monotonic
    upsert makes that harmless.
    """

    def __init__(self, sink: RecordSink, state: StateStore) -> None:
        self._sink = sink
        self._state = state

    def commit(
        self, batch: Batch, key: StateKey, checkpoint: Checkpoint
    ) -> IOResult[WriteOutcome, PortError]:
        written: IOResult[WriteOutcome, PortError] = self._sink.write(batch)
        return written.bind(
            lambda outcome: self._state.save(key, checkpoint).map(lambda _: outcome)
        )
