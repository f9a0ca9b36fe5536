"""Registry of the PBX simulator's named call scenarios: parameters, traffic mix, intended records."""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from typing import Any

from cti.ami import scenarios_agents, scenarios_inbound, scenarios_queue
from cti.ami.scenarios_kit import Call, Params, Scenario

__all__ = [
    "DEFAULT_MIX",
    "SCENARIOS",
    "Call",
    "Params",
    "Scenario",
    "expected_record",
    "get",
    "normalize_mix",
    "params_for",
]

SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (*scenarios_inbound.SCENARIOS, *scenarios_queue.SCENARIOS, *scenarios_agents.SCENARIOS)
}

#: Share of each scenario in random traffic: mostly answered calls, as in a working contact centre.
DEFAULT_MIX: dict[str, float] = {
    "answered": 30,
    "no_answer_then_duty": 7,
    "abandoned": 5,
    "short_abandon": 5,
    "busy": 3,
    "no_answer_voicemail": 3,
    "out_of_hours": 4,
    "queue_answered": 14,
    "queue_abandoned": 4,
    "blind_transfer": 3,
    "attended_transfer": 2,
    "click_to_call": 8,
    "internal": 8,
    "pickup": 2,
}


def get(name: str) -> Scenario:
    try:
        return SCENARIOS[name]
    except KeyError:
        raise ValueError(f"unknown scenario {name!r}; known: {', '.join(SCENARIOS)}") from None


def params_for(name: str, rng: random.Random | None = None, **overrides: Any) -> Params:
    """The scenario's defaults, randomized when `rng` is given, then `overrides` on top."""
    scenario = get(name)
    values: dict[str, Any] = dict(scenario.defaults)
    if rng is not None:
        values.update(scenario.randomize(rng))
    values.update(overrides)
    if "members" in values:
        values["members"] = tuple(values["members"])
    return Params(**values)


def expected_record(name: str, params: Params) -> dict[str, Any]:
    """The record a correct tracker makes of the scenario's call (`linkedid` still unknown)."""
    return get(name).expect(params)


def normalize_mix(
    mix: Mapping[str, float] | Sequence[str] | str | None,
) -> dict[str, float]:
    """A traffic mix from weights, a list of names (equal weights), or `a,b,c`; default: DEFAULT_MIX."""
    if not mix:
        return dict(DEFAULT_MIX)
    if isinstance(mix, str):
        mix = [name.strip() for name in mix.split(",") if name.strip()]
    weights = dict(mix) if isinstance(mix, Mapping) else dict.fromkeys(mix, 1.0)
    for name in weights:
        get(name)
    if not any(weight > 0 for weight in weights.values()):
        raise ValueError("the traffic mix needs a positive weight")
    return weights
