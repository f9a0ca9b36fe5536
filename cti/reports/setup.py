"""Builds the reports service from the settings (for `cti serve`, `cti report` and the bench)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cti.config import Settings
from cti.reports.service import Reports
from cti.routing.rules import DidRules, RuleError, parse_rules


def build_reports(settings: Settings, sessions: async_sessionmaker[AsyncSession]) -> Reports:
    """`Reports` in the office time zone, with the service-level T, the callback SLA and the DID
    rules (teams) of these settings."""
    rules: DidRules | None
    try:
        rules = parse_rules(
            settings.routing_did_rules,
            default_team=settings.routing_default_team,
            region=settings.default_region,
        )
    except RuleError:
        rules = (
            None  # routing refuses to start with bad rules and says why; reports only lose teams
        )
    return Reports(
        sessions=sessions,
        timezone=settings.timezone,
        threshold_seconds=settings.report_service_level_seconds,
        callback_sla_minutes=settings.callback_sla_minutes,
        did_rules=rules,
        default_state=settings.routing_default_state.strip().lower(),
    )
