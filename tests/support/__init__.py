"""Shared test helpers: schemas, record factories and the wiring of in-memory adapters."""
