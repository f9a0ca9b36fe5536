"""The audit log's entries: who changed which customer or agent, when, from what to what."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

#: the actor recorded for changes made by `cti import ...` and other commands
CLI_ACTOR = "cli"


class Action(enum.StrEnum):
    CREATE = "create"  #: the entity appeared; old values are null
    UPDATE = "update"  #: some fields changed
    DELETE = "delete"  #: the entity is gone; new values are null
    MERGE = "merge"  #: another customer was merged into this one (`merged_from`: its id)


class Entity(enum.StrEnum):
    CUSTOMER = "customer"  #: a customer (phones, manager, orders summary included)
    AGENT = "agent"  #: an agent


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One change. `changes` maps each changed field to its (old, new) values."""

    entity: Entity
    entity_id: int
    entity_key: str | None  #: the customer's external id or the agent's login, for people
    action: Action
    actor: str
    at: datetime
    changes: Mapping[str, tuple[Any, Any]]
    id: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "entity": self.entity.value,
            "entity_id": self.entity_id,
            "entity_key": self.entity_key,
            "action": self.action.value,
            "actor": self.actor,
            "at": self.at.isoformat().replace("+00:00", "Z"),
            "changes": {f: {"old": old, "new": new} for f, (old, new) in self.changes.items()},
        }

    def stored_changes(self) -> dict[str, list[Any]]:
        """The compact form kept in the database: {field: [old, new]}."""
        return {f: [old, new] for f, (old, new) in self.changes.items()}


def _blank(value: Any) -> bool:
    return value is None or value == "" or value == [] or value is False


def changes_between(
    old: Mapping[str, Any] | None,
    new: Mapping[str, Any] | None,
    defaults: Mapping[str, Any] | None = None,
) -> dict[str, tuple[Any, Any]]:
    """Fields whose values differ. A creation lists the fields given a value (other than
    `defaults`); a deletion lists the fields that had one, so the history shows what was lost."""
    if old is None and new is None:
        return {}
    if old is None:
        assert new is not None
        base = defaults or {}
        return {f: (None, v) for f, v in new.items() if not _blank(v) and v != base.get(f, None)}
    if new is None:
        return {f: (v, None) for f, v in old.items() if not _blank(v)}
    return {f: (old.get(f), v) for f, v in new.items() if old.get(f) != v}


def audit_entry(
    *,
    entity: Entity,
    entity_id: int,
    entity_key: str | None,
    old: Mapping[str, Any] | None,
    new: Mapping[str, Any] | None,
    actor: str,
    at: datetime,
    defaults: Mapping[str, Any] | None = None,
) -> AuditEntry | None:
    """The entry for a change from `old` to `new` (None: did not exist); None if nothing changed.
    A creation leaves out the fields still at their `defaults`."""
    changes = changes_between(old, new, defaults)
    if old is None:
        action = Action.CREATE
    elif new is None:
        action = Action.DELETE
    elif changes:
        action = Action.UPDATE
    else:
        return None
    return AuditEntry(entity, entity_id, entity_key, action, actor, at, changes)


__all__ = ["CLI_ACTOR", "Action", "AuditEntry", "Entity", "audit_entry", "changes_between"]
