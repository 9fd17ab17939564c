"""A plan for people (`smtp-probe resolve`, `run --dry-run`) and for reports."""

from __future__ import annotations

from typing import Any

from probe.resolve.plan import Candidate, PlanKind, TargetPlan


def render_plan(plan: TargetPlan, all_mx: bool = False, all_addresses: bool = False) -> str:
    """Several lines: what was found, which addresses would be probed in which order, and why."""
    lines = [f"{plan.target.text}: {_headline(plan)}"]
    width = max((len(_preference(plan, h.preference)) for h in plan.hosts), default=0)
    for host in plan.hosts:
        if plan.target.is_address:
            continue  # the address is the target: nothing to list but what would be probed
        label = _preference(plan, host.preference)
        addresses = ", ".join(host.addresses) if host.addresses else "(no address: skipped)"
        prefix = f"{label.ljust(width)}  " if width else ""
        lines.append(f"  {prefix}{host.name}  {addresses}")
        lines.extend(f"      warning: {w}" for w in host.warnings)
        lines.extend(f"      note: {n}" for n in host.notes)
    lines.extend(f"  warning: {w}" for w in plan.warnings)
    lines.extend(f"  note: {n}" for n in plan.notes)
    groups = plan.candidates(all_mx, all_addresses)
    if plan.kind is PlanKind.NULL_MX:
        lines.append(f"  nothing would be probed: {plan.reason}")
    elif not groups:
        lines.append("  nothing would be probed")
    elif all_addresses:
        lines.append("  would probe each address on its own (--all-addresses):")
        for (candidate,) in groups:
            where = f"{candidate.host} ({_preference(plan, candidate.preference)})"
            lines.append(f"    {where}: {candidate.hostport}")
    elif all_mx and plan.kind is not PlanKind.DIRECT:
        lines.append("  would probe each MX host on its own (--all-mx):")
        for group in groups:
            first = group[0]
            tried = ", then ".join(c.hostport for c in group)
            lines.append(f"    {first.host} ({_preference(plan, first.preference)}): {tried}")
    else:
        candidates = groups[0]
        if len(candidates) == 1:
            lines.append("  would probe:")
        else:
            lines.append("  would probe, in this order, the first that accepts a connection:")
        width = max(len(c.hostport) for c in candidates)
        for number, c in enumerate(candidates, 1):
            via = "" if plan.target.is_address else f"  {c.host}"
            if plan.kind is not PlanKind.DIRECT:
                via += f" ({_preference(plan, c.preference)})"
            lines.append(f"    {number}. {c.hostport.ljust(width)}{via}".rstrip())
    return "\n".join(lines)


def plan_details(plan: TargetPlan, candidate: Candidate | None = None) -> dict[str, Any]:
    """What a report records about where a result came from (JSON-ready).

    With no candidate (null MX, DNS error), address and port are None and reason says why.
    """
    via_mx = plan.resolution in (PlanKind.MX, PlanKind.IMPLICIT_MX)
    details: dict[str, Any] = {
        "target": plan.target.text,
        "domain": plan.domain,
        "resolution": plan.resolution.value,
        "outcome": plan.kind.value,
        "mx_host": candidate.host if candidate and via_mx else None,
        "preference": candidate.preference if candidate and via_mx else None,
        "host": candidate.host if candidate else None,
        "address": candidate.address if candidate else None,
        "port": candidate.port if candidate else plan.port,
    }
    if plan.reason is not None:
        details["reason"] = plan.reason
        details["code"] = plan.code
    warnings = plan.all_warnings()
    if warnings:
        details["warnings"] = warnings
    return details


def _headline(plan: TargetPlan) -> str:
    match plan.kind:
        case PlanKind.MX:
            count = len(plan.hosts)
            return f"mail domain {plan.domain}, {count} MX host{'s' if count != 1 else ''}"
        case PlanKind.IMPLICIT_MX:
            return f"mail domain {plan.domain}, no MX records: implicit MX"
        case PlanKind.DIRECT:
            return "direct, no MX lookup"
        case PlanKind.NULL_MX:
            return f"null MX: {plan.domain} accepts no mail"
        case _:
            return f"error: {plan.reason}"


def _preference(plan: TargetPlan, preference: int | None) -> str:
    if preference is None:
        return ""
    if plan.resolution is PlanKind.IMPLICIT_MX:
        return f"implicit MX {preference}"
    return f"MX {preference}"
