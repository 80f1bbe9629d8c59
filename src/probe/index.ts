/**
 * `palisade probe`: attacks a running sidecar's inbound listener the way a hostile tenant
 * or a stranger would, and reports, case by case, whether it held. Read-only methods
 * unless `--allow-writes`. Exit 0: every case held; 1: a case failed (a leak or a wrong
 * answer); 2: usage, or a target that does not serve the probing tenant at all (then
 * nothing the probe saw would mean anything).
 */
import { randomBytes } from "node:crypto";
import { lookup } from "node:dns/promises";
import { forgeIdentities, loadTenantPki } from "./identities.js";
import { probeCases, refusalCode, send, type CaseResult, type ProbeContext } from "./cases.js";
import type { Endpoint } from "./wire.js";
import { formatReport } from "./report.js";

export interface ProbeOptions {
  target: string;
  pki: string;
  tenant: string;
  other: string;
  service?: string;
  serverName?: string;
  /** Path prefix naming a tenant's resources; `{tenant}` is replaced. */
  prefix: string;
  format: "human" | "json";
  allowWrites: boolean;
  timeoutMs: number;
  deadlineMs: number;
  out?: (text: string) => void;
}

export async function runProbe(options: ProbeOptions): Promise<number> {
  const out = options.out ?? ((text: string) => process.stdout.write(text));
  const ctx = await context(options);
  const baseline = await servesTenant(ctx);
  if (baseline !== undefined) {
    out(`palisade probe: ${options.target} does not serve ${ctx.self.tenant}: ${baseline}\n`);
    return 2;
  }
  const cases = probeCases(ctx);
  const timed = cases.filter((c) => c.group === "deadlines");
  const rest = cases.filter((c) => c.group !== "deadlines");
  const run = async (c: (typeof cases)[number]): Promise<CaseResult> => {
    const base = { name: c.name, group: c.group, expected: c.expected };
    if (c.writes && !options.allowWrites)
      return { ...base, seen: "-", pass: true, skipped: "writes need --allow-writes" };
    try {
      return { ...base, ...(await c.run(ctx)) };
    } catch (err) {
      return { ...base, seen: `probe error: ${(err as Error).message}`, pass: false };
    }
  };
  // Deadline cases wait for the sidecar to give up on them: they run beside the rest.
  const [slow, fast] = await Promise.all([
    Promise.all(timed.map(run)),
    (async () => {
      const results: CaseResult[] = [];
      for (const c of rest) results.push(await run(c));
      return results;
    })(),
  ]);
  const results = [...fast, ...slow];
  for (const reason of ctx.skippedForgeries) {
    results.push({
      name: "forgeries-under-own-ca",
      group: "identity",
      expected: "-",
      seen: "-",
      pass: true,
      skipped: reason,
    });
  }
  out(formatReport(results, options.format));
  return results.some((r) => !r.pass && r.skipped === undefined) ? 1 : 0;
}

async function context(
  options: ProbeOptions,
): Promise<ProbeContext & { skippedForgeries: string[] }> {
  const endpoint = await resolveTarget(options.target);
  const [self, other] = await Promise.all([
    loadTenantPki(options.pki, options.tenant, options.service),
    loadTenantPki(options.pki, options.other, options.service),
  ]);
  const { forged, skipped } = await forgeIdentities(self, other);
  return {
    endpoint,
    serverName: options.serverName,
    authority: options.serverName ?? options.target,
    self,
    other,
    prefix: (tenant) => options.prefix.replaceAll("{tenant}", tenant).replace(/\/+$/, ""),
    forged,
    timeoutMs: options.timeoutMs,
    deadlineMs: options.deadlineMs,
    allowWrites: options.allowWrites,
    nonce: randomBytes(6).toString("hex"),
    skippedForgeries: skipped,
  };
}

/** Undefined when the probing tenant's own request reaches the app; else what happened. */
async function servesTenant(ctx: ProbeContext): Promise<string | undefined> {
  const target = `${ctx.prefix(ctx.self.tenant)}/palisade-probe/baseline`;
  const seen = await send(ctx, ctx.self.svid, "GET", target);
  if (!seen.response) return `no answer (${seen.failure ?? "closed"})`;
  const code = refusalCode(seen);
  return code === undefined ? undefined : `refused: ${seen.response.status} ${code}`;
}

async function resolveTarget(target: string): Promise<Endpoint> {
  const match = /^(\[[^\]]+\]|[^:]+):(\d{1,5})$/.exec(target);
  if (!match) throw new Error(`--target must be HOST:PORT, not ${target}`);
  const host = (match[1] as string).replace(/^\[|\]$/g, "");
  const { address } = await lookup(host);
  return { host: address, port: Number(match[2]) };
}
