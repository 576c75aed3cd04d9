"""gruponos: keep an analytics database in step with Oracle WMS Cloud."""

from gruponos.__about__ import __version__

__all__ = ["__version__"]
