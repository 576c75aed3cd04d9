"""The pure core of gruponos: models, value objects, rules and typed errors.

Nothing in this package performs I/O, reads the clock or the environment, or logs.
"""
