"""Who may change the directory: pure rules over the server-side Principal.

Everyone signed in reads customers (the screen-pop needs them) and may create or edit a
customer card (an unknown caller gets a card while the agent talks). Handing customers over
to another manager, deleting them and bulk imports are for supervisors and administrators;
agents themselves are configuration: administrators only.
"""

from __future__ import annotations

from cti.auth.policy import may_change_configuration, sees_everything
from cti.auth.principal import Principal


def may_hand_over(principal: Principal) -> bool:
    """Set or change a customer's responsible manager to someone else."""
    return sees_everything(principal)


def may_manage_customers(principal: Principal) -> bool:
    """Delete customers, upsert them in bulk, import CSV files."""
    return sees_everything(principal)


def may_change_agents(principal: Principal) -> bool:
    return may_change_configuration(principal)


__all__ = ["may_change_agents", "may_hand_over", "may_manage_customers"]
