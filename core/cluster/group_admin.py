"""Consumer-group administration on a real cluster: delete a group, delete a group's
committed offsets of one topic (Kafka's `--delete-offsets`). Planned first (admin_plan.py),
refused while members are there (the group) or consume the topic (its offsets), applied
through `Changes` (read-only check, audit log)."""

from __future__ import annotations

from typing import Any

from core.cluster.admin_plan import AdminPlan, AdminRefused, plan_delete_group, plan_delete_offsets
from core.cluster.change import Changes
from core.cluster.seek_parse import parse_group_id
from core.cluster.snapshot import GroupInfo, GroupMember
from core.errors import ConfigError, NexusError


def _who(member: GroupMember) -> str:
    return f"{member.client_id or member.member_id}@{member.host}"


class GroupAdmin(Changes):
    """Plans and applies consumer-group changes on one cluster."""

    async def _group(self, group: str) -> GroupInfo:
        parse_group_id(group)
        return await self.admin.group(group)  # NotFound for an unknown group

    async def plan_delete(self, group: str) -> AdminPlan:
        info = await self._group(group)
        return plan_delete_group(group, info.state, [_who(m) for m in info.members],
                                 info.offsets)

    def delete(self, group: str, execute: bool = False) -> Any:
        return self.perform("group.delete", {"group": group},
                            lambda: self.plan_delete(group), execute)

    async def plan_delete_offsets(self, group: str, topic: str) -> AdminPlan:
        info = await self._group(group)
        consuming = [_who(m) for m in info.members if any(t == topic for t, _ in m.assignment)]
        return plan_delete_offsets(group, topic, info.offsets, consuming)

    def delete_offsets(self, group: str, topic: str, execute: bool = False) -> Any:
        return self.perform("group.delete-offsets", {"group": group, "topic": topic},
                            lambda: self.plan_delete_offsets(group, topic), execute)

    async def _apply(self, plan: AdminPlan) -> dict[str, Any]:
        group = plan.target
        if plan.action == "group.delete":
            futures = self.admin.client.delete_consumer_groups(
                [group], request_timeout=self.admin.timeout)
            try:
                await self.admin.result(futures[group], f"delete group {group}")
            except NexusError as exc:
                if "NON_EMPTY_GROUP" in str(exc):
                    raise AdminRefused((await self.plan_delete(group)).refusal
                                       or f"group {group} is not empty") from None
                raise
            return {"deleted": group}
        if plan.action == "group.delete-offsets":
            topic = plan.args["topic"]
            from core.cluster.offset_delete import delete_group_offsets  # aiokafka: on use

            try:
                await delete_group_offsets(self.settings, group, topic,
                                           plan.detail["partitions"])
            except NexusError as exc:
                if "GROUP_SUBSCRIBED_TO_TOPIC" in str(exc):
                    raise AdminRefused(f"group {group} is consuming {topic}: Kafka refuses "
                                       "to delete offsets of a subscribed topic") from None
                raise
            left = await self.admin.committed_offsets(group)
            return {"remaining_on_topic": sorted(p for t, p in left if t == topic)}
        raise ConfigError(f"not a group change: {plan.action}")
