"""Targets to addresses, as a sending MTA finds a domain's mail servers (RFC 5321 §5.1, RFC 7505).

Usage, in a coroutine:

config = ResolverConfig.from_options(["127.0.0.1:5353"], ["mx.example:127.0.0.5"], seed=1)
plans = await plan_targets([parse_target("example.com")], config)
print(render_plan(plans[0]))
for group in plans[0].candidates(all_mx=False):  # try each group's candidates in turn
    ...
"""

from typing import TYPE_CHECKING

from probe.resolve.config import (
    BOTH_FAMILIES,
    DEFAULT_TIMEOUT,
    ResolveConfigError,
    ResolverConfig,
    families_from_flags,
    parse_nameserver,
    parse_override,
)
from probe.resolve.plan import (
    DEFAULT_CONCURRENCY,
    Candidate,
    MxHost,
    PlanKind,
    TargetPlan,
    direct_plans,
    order_mx,
    plan_target,
    plan_targets,
)
from probe.resolve.records import DnsError, Failure, Lookup, MxRecord
from probe.resolve.render import plan_details, render_plan

if TYPE_CHECKING:
    from probe.resolve.lookup import DnsCache, DnsClient


def __getattr__(name: str) -> object:
    """DnsCache and DnsClient bring dnspython and asyncio: imported when first asked for."""
    if name in ("DnsCache", "DnsClient"):
        from probe.resolve import lookup

        return getattr(lookup, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "BOTH_FAMILIES",
    "DEFAULT_CONCURRENCY",
    "DEFAULT_TIMEOUT",
    "Candidate",
    "DnsCache",
    "DnsClient",
    "DnsError",
    "Failure",
    "Lookup",
    "MxHost",
    "MxRecord",
    "PlanKind",
    "ResolveConfigError",
    "ResolverConfig",
    "TargetPlan",
    "direct_plans",
    "families_from_flags",
    "order_mx",
    "parse_nameserver",
    "parse_override",
    "plan_details",
    "plan_target",
    "plan_targets",
    "render_plan",
]
