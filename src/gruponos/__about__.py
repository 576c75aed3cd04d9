"""Version of the gruponos package."""

__version__ = "0.1.0"
