/**
 * Besides grants, what decides whether one tenant reaches another's data, as `check --diff`
 * compares it. Each item is either a *guard* (while configured it refuses something: one
 * that goes away opens, `+`; one that appears closes, `-`) or an *opening* (it allows
 * something: one that appears opens, one that goes away closes).
 *
 * - guards: target rules, inbound and per upstream (a request naming a tenant through a
 *   source no rule reads is the caller's own, so the app alone keeps it apart);
 *   `outbound.allowUnsignedTenant` off (the app cannot name the calling tenant with a
 *   plain header); `inbound.stripHeaders` (tenant header aliases the app must never
 *   receive from the network);
 * - openings: the regions a tenant's data may be served in (any, without `regions`), and
 *   the regions an enforced, unexpired grant adds for its owner's data.
 */
import type { Config, TargetRuleConfig } from "../config/schema.js";

export interface PolicyItem {
  /** Stable identity, compared across the two configs. */
  readonly key: string;
  readonly kind: "guard" | "opening";
  /** The line printed when the item appears, and when it goes away. */
  readonly added: string;
  readonly removed: string;
  /**
   * A tenant or upstream the item belongs to: compared only when both configs have it
   * (adding a tenant or an upstream is not itself a change of who reaches whom).
   */
  readonly scope?: string;
}

export function policyItems(config: Config, now: Date): Map<string, PolicyItem> {
  const items: PolicyItem[] = [
    ...targetGuards("inbound", config.inbound.target, undefined),
    ...Object.entries(config.outbound.upstreams).flatMap(([name, u]) =>
      targetGuards(`outbound ${name}`, u.target, `upstream ${name}`),
    ),
    ...config.inbound.stripHeaders.map((header): PolicyItem => ({
      key: `strip ${header}`,
      kind: "guard",
      added: `* -> * inbound: header "${header}" from the network is stripped`,
      removed: `* -> * inbound: header "${header}" from the network reaches the app`,
    })),
    ...regionOpenings(config, now),
  ];
  if (!config.outbound.allowUnsignedTenant) {
    items.push({
      key: "signed-tenant",
      kind: "guard",
      added:
        "app -> * outbound: the calling tenant needs a context token (allowUnsignedTenant off)",
      removed:
        "app -> * outbound: the app may name the calling tenant with a plain header (allowUnsignedTenant)",
    });
  }
  return new Map(items.map((item) => [item.key, item]));
}

/** One guard per target source; with none at all, an opening (nothing is checked). */
function targetGuards(
  where: string,
  rule: TargetRuleConfig,
  scope: string | undefined,
): PolicyItem[] {
  const sources = (["path", "host", "header"] as const).filter((s) => rule[s] !== undefined);
  const scoped = scope === undefined ? {} : { scope };
  if (sources.length === 0) {
    return [
      {
        key: `unchecked ${where}`,
        kind: "opening",
        added: `* -> * ${where}: no target rule; every request counts as the caller's own`,
        removed: `* -> * ${where}: a target rule now checks requests`,
      },
    ];
  }
  return sources.map((source) => {
    const value = JSON.stringify(rule[source]);
    return {
      key: `target ${where} ${source} ${value}`,
      kind: "guard",
      added: `* -> * ${where}: target tenant read from ${source} ${value}`,
      removed: `* -> * ${where}: target tenant no longer read from ${source} ${value}; such requests count as the caller's own`,
      ...scoped,
    };
  });
}

function regionOpenings(config: Config, now: Date): PolicyItem[] {
  const items: PolicyItem[] = [];
  for (const [tenant, t] of Object.entries(config.tenants)) {
    for (const region of t.regions ?? ["*"]) {
      const where = region === "*" ? "any region" : `region ${region}`;
      items.push({
        key: `region ${tenant} ${region}`,
        kind: "opening",
        added: `${tenant}: data may be served in ${where}`,
        removed: `${tenant}: data no longer served in ${where}`,
        scope: `tenant ${tenant}`,
      });
    }
  }
  for (const grant of config.grants) {
    if (!grant.enabled || grant.mode !== "enforce" || !(now < grant.expires)) continue;
    for (const region of grant.regions ?? []) {
      const pair = `${grant.from} -> ${grant.to}`;
      items.push({
        key: `grant-region ${pair} ${region}`,
        kind: "opening",
        added: `${pair}: ${grant.to}'s data may be served in region ${region} under a grant`,
        removed: `${pair}: ${grant.to}'s data no longer served in region ${region} under a grant`,
      });
    }
  }
  return items;
}

/** The tenants and upstreams a config has, as `PolicyItem.scope` names them. */
export function scopesOf(config: Config): Set<string> {
  return new Set([
    ...Object.keys(config.tenants).map((t) => `tenant ${t}`),
    ...Object.keys(config.outbound.upstreams).map((u) => `upstream ${u}`),
  ]);
}
