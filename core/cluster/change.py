"""How an administrative change runs: read-only check, plan, audit intent, apply, audit result.

`Changes` is the base of TopicAdmin and GroupAdmin. `perform(action, args, planner, execute)`
is the CLI's path (a dry run or plan + apply, one audit record); `apply(plan)` is the TUI's
(the plan its screen showed, applied after the typed confirmation).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from core.cluster.admin import KafkaAdmin
from core.cluster.admin_plan import AdminPlan, AdminRefused
from core.cluster.audit import audited
from core.config.settings import ConnectionSettings


class Changes:
    """Plans and audited applies on one cluster; subclasses implement `_apply`."""

    def __init__(self, admin: KafkaAdmin | ConnectionSettings | str) -> None:
        self._admin = admin if isinstance(admin, KafkaAdmin) else None
        self.settings = (admin.settings if isinstance(admin, KafkaAdmin)
                         else ConnectionSettings.of(admin))

    @property
    def admin(self) -> KafkaAdmin:
        """The admin client, made on first use: a refused write never opens a connection."""
        if self._admin is None:
            self._admin = KafkaAdmin(self.settings)
        return self._admin

    async def perform(self, action: str, args: dict[str, Any],
                      planner: Callable[[], Awaitable[AdminPlan]], execute: bool
                      ) -> tuple[AdminPlan, dict[str, Any] | None]:
        """Plan (and with `execute`, apply) one change, recorded in the audit log whatever
        happens: a refusal or a bad input is an intent line with its error."""
        with audited(self.settings, action, args, execute=execute, deferred=True) as record:
            if execute:
                self.settings.check_writable(action)  # before any request
            plan = await planner()
            record.before, record.after = plan.before or None, plan.after or None
            if execute and plan.refusal:
                raise AdminRefused(plan.refusal)
            record.intent()
            result = await self._apply(plan) if execute else None
            record.result = result
        return plan, result

    async def apply(self, plan: AdminPlan) -> dict[str, Any]:
        """Apply a plan shown earlier (the TUI), recorded in the audit log."""
        with audited(self.settings, plan.action, plan.args, before=plan.before or None,
                     after=plan.after or None) as record:
            self.settings.check_writable(plan.action)
            if plan.refusal:
                raise AdminRefused(plan.refusal)
            record.result = await self._apply(plan)
        return record.result

    async def _apply(self, plan: AdminPlan) -> dict[str, Any]:
        raise NotImplementedError
