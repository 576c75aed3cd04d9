"""Use cases and the ports they drive. Depends on :mod:`gruponos.domain` only."""
