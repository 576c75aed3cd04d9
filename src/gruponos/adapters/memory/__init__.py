"""In-memory adapters for every port: first-class fakes for tests, examples and dry runs."""

from gruponos.adapters.memory.clock import ManualClock
from gruponos.adapters.memory.plans import InMemoryRunPlans
from gruponos.adapters.memory.quarantine import InMemoryQuarantine
from gruponos.adapters.memory.sink import (
    InMemoryDatabase,
    InMemoryRunHistory,
    InMemorySink,
    InMemorySinkState,
)
from gruponos.adapters.memory.state import InMemoryStateStore
from gruponos.adapters.memory.wms import InMemoryWms

__all__ = [
    "InMemoryDatabase",
    "InMemoryQuarantine",
    "InMemoryRunHistory",
    "InMemoryRunPlans",
    "InMemorySink",
    "InMemorySinkState",
    "InMemoryStateStore",
    "InMemoryWms",
    "ManualClock",
]
