"""What can go wrong with a directory request, in the domain's words (the web edge adds codes)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from cti.customers.fields import FieldError


class DirectoryError(Exception):
    """Base of the directory's domain errors; the message is for a person."""


class NotFound(DirectoryError):
    """No such customer or agent."""


class Conflict(DirectoryError):
    """The request contradicts what is stored (a taken external id, an agent still managing
    customers)."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class InvalidFields(DirectoryError):
    """One or more fields are not acceptable; each error names its field."""

    def __init__(self, errors: Sequence[FieldError]) -> None:
        super().__init__("; ".join(str(e) for e in errors))
        self.errors = list(errors)


class NotAllowed(DirectoryError):
    """The principal's role may not make this change (a handover by an agent, say); `errors`
    names each field refused."""

    def __init__(self, message: str, *, errors: Sequence[FieldError] = ()) -> None:
        super().__init__(message)
        self.errors = list(errors)


class DuplicatePhones(Conflict):
    """Numbers of the card belong to other customers (`existing`); send again to add anyway."""

    def __init__(self, errors: Sequence[FieldError], *, existing: Sequence[dict[str, Any]]) -> None:
        super().__init__("; ".join(str(e) for e in errors), field=errors[0].field)
        self.errors = list(errors)
        self.existing = list(existing)


__all__ = [
    "Conflict",
    "DirectoryError",
    "DuplicatePhones",
    "FieldError",
    "InvalidFields",
    "NotAllowed",
    "NotFound",
]
