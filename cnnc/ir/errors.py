"""The one exception family users see.

Every error cnnc raises for bad input is a :class:`CnncError` whose message names *where*
(file, node or DSL line), *what* (the op) and *what was expected*.  The CLI prints the
message alone, never a traceback.
"""
from __future__ import annotations


class CnncError(Exception):
    """Base of every error cnnc reports to its user."""

    def __init__(self, message: str, *, where: str | None = None):
        self.where = where
        self.detail = message
        super().__init__(f"{where}: {message}" if where else message)

    def at(self, where: str) -> "CnncError":
        """The same error, located at ``where`` (keeps the first location it was given)."""
        if self.where:
            return self
        return type(self)(self.detail, where=where)


class ShapeError(CnncError):
    """Operand shapes or attribute values that an op cannot accept."""


class AttributeError_(CnncError):
    """An unknown, missing or ill-typed attribute."""


class VerifyError(CnncError):
    """The IR breaks one of the graph invariants (see ``cnnc.ir.verify``)."""


class UnsupportedError(CnncError):
    """An op, attribute value or dtype that cnnc does not implement."""
