/**
 * A bounded fuzzer over the request parsers, the path and authority checks and the
 * decision path (`npm run fuzz`; a short run is part of `npm test`).
 *
 * Two layers. The route layer calls the path and target checks directly, fast, and
 * compares each accepted path with what a naive app would route it to. The wire layer
 * sends every input over real mTLS to a real sidecar process (a child, so "the process
 * stays up" means something) in front of a recording app, and checks on every request the
 * app received: it carries exactly the tenant of the certificate that sent it, it names no
 * other tenant's resource except through the configured grant, no reserved or routing
 * header from the network reached it, its Host is a plain authority, and its header count
 * is bounded. At the end: the process is alive and healthy, logged no internal error, and
 * its resident memory grew by less than the bound.
 */
import { readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { stringify } from "yaml";
import { tlsExchange } from "../../src/probe/wire.js";
import { resolveRoute } from "../../src/path/route.js";
import { ProxyError } from "../../src/path/errors.js";
import { compileTargetRule } from "../../src/tenancy/target.js";
import type { RequestHeaders } from "../../src/path/headers.js";
import { startApp, type SeenRequest } from "../support/app.js";
import { baseConfig, makePki, TRUST_DOMAIN } from "../support/mesh.js";
import { spawnSidecar } from "../support/process.js";
import { Generator, serialize, type FuzzRequest } from "./generate.js";
import { appHost, appTarget } from "./oracle.js";

export interface FuzzOptions {
  seed: number;
  /** Wire-layer inputs at most; the route layer tries ten times as many paths. */
  iterations: number;
  /** Stop the wire layer after this long, whatever the count. */
  seconds: number;
  /** Resident memory growth the sidecar may show (bytes). */
  rssGrowthLimit?: number;
  progress?: (line: string) => void;
}

export interface FuzzSummary {
  seed: number;
  routeInputs: number;
  wireInputs: number;
  reachedApp: number;
  /** Requests the app received after their client had given up (judged all the same). */
  lateArrivals: number;
  refused: number;
  violations: string[];
  rssStartMiB: number;
  rssEndMiB: number;
  seconds: number;
}

const TENANTS = ["acme", "globex"] as const;
const GRANT = { from: "globex", to: "acme", prefix: "/tenants/acme/reports/" };
const STAMPED = new Set(["x-palisade-tenant", "x-palisade-caller", "x-palisade-context"]);
const ROUTING =
  /^(forwarded|x-forwarded-.*|x-original-.*|x-host|x-rewrite-url|x-http-method(-override)?|x-method-override)$/;
const MAX_APP_HEADERS = 100 + 8;
const NO_HEADERS: RequestHeaders = {
  forward: {},
  reserved: new Map(),
  hostCount: 1,
  host: "orders.mesh.local",
  requestId: undefined,
} as RequestHeaders;

export async function runFuzz(options: FuzzOptions): Promise<FuzzSummary> {
  const started = performance.now();
  const violations: string[] = [];
  const routeInputs = fuzzRoutes(options.seed, options.iterations * 10, violations);
  const wire = await fuzzWire(options, violations);
  return {
    seed: options.seed,
    routeInputs,
    ...wire,
    violations,
    seconds: Math.round((performance.now() - started) / 100) / 10,
  };
}

/** The path and target checks alone: an accepted path names, to the app, the tenant it names to Palisade. */
function fuzzRoutes(seed: number, count: number, violations: string[]): number {
  const rule = compileTargetRule({ path: "/tenants/{tenant}/**" });
  const generator = new Generator(seed ^ 0x5eed, TENANTS);
  for (let i = 0; i < count; i++) {
    const [self, other] = i % 2 === 0 ? TENANTS : ([TENANTS[1], TENANTS[0]] as const);
    const path = generator.path(self, other);
    let target: string | undefined;
    try {
      target = resolveRoute(rule, path, NO_HEADERS).target;
    } catch (err) {
      if (!(err instanceof ProxyError))
        violations.push(`route threw on ${JSON.stringify(path)}: ${String(err)}`);
      continue;
    }
    const seen = appTarget(path);
    if (seen !== undefined && seen !== target)
      violations.push(
        `route: ${JSON.stringify(path)} is ${target ?? "no tenant"} to Palisade, ${seen} to the app`,
      );
  }
  return count;
}

async function fuzzWire(
  options: FuzzOptions,
  violations: string[],
): Promise<Omit<FuzzSummary, "seed" | "routeInputs" | "violations" | "seconds">> {
  const pki = await makePki([...TENANTS], ["orders"]);
  const app = await startApp((req, res) => {
    const report = /\/reports\//.test(req.url ?? "");
    const body = JSON.stringify(report ? { id: "r", total: 1, secret: "s" } : { ok: true });
    res.writeHead(200, {
      "content-type": "application/json",
      ...(req.url?.includes("cache") ? { "cache-control": "max-age=30" } : {}),
    });
    res.end(body);
  });
  const config = baseConfig(pki, "orders", [...TENANTS], app.url);
  Object.assign(config["inbound"] as object, {
    cache: { enabled: true },
    timeouts: { headers: "2s", request: "3s" },
  });
  config["grants"] = [
    {
      id: "fuzz-grant",
      from: GRANT.from,
      to: GRANT.to,
      methods: ["GET"],
      paths: [`${GRANT.prefix}**`],
      fields: ["id", "total"],
      expires: new Date(Date.now() + 86_400_000).toISOString(),
    },
  ];
  config["telemetry"] = { logs: { level: "info", access: false } };
  const configFile = join(pki.dir, "palisade.yaml");
  await writeFile(configFile, stringify(config));
  const sidecar = await spawnSidecar(configFile);
  const port = Number(new URL(sidecar.inbound).port);
  const identities = Object.fromEntries(
    await Promise.all(
      TENANTS.map(
        async (t) =>
          [
            t,
            { certPem: await pki.cert(t, "orders"), keyPem: await pki.key(t, "orders") },
          ] as const,
      ),
    ),
  );
  const pid = sidecar.child.pid as number;
  const generator = new Generator(options.seed, TENANTS);
  let wireInputs = 0;
  let reachedApp = 0;
  let refused = 0;
  let checked = 0;
  let lateArrivals = 0;
  const sent = new Map<string, FuzzRequest>();
  let rssStart = 0;
  const deadline = performance.now() + options.seconds * 1000;
  try {
    for (; wireInputs < options.iterations && performance.now() < deadline; wireInputs++) {
      if (wireInputs === 50) rssStart = await rss(pid);
      const input = generator.next();
      sent.set(input.id, input);
      const seen = await tlsExchange(
        { host: "127.0.0.1", port },
        { identity: identities[input.as] as { certPem: string; keyPem: string } },
        input.raw ?? serialize(input),
        4_000,
      );
      const status = seen.response?.status ?? 0;
      if (status >= 400 && status < 500) refused++;
      if (status === 500) violations.push(`500 for ${describeInput(input)}`);
      for (const received of app.seen.slice(checked)) {
        reachedApp++;
        // A request that reaches the app after its client gave up is judged as its own input.
        const origin = sent.get(String(received.headers["x-request-id"])) ?? input;
        if (origin !== input) lateArrivals++;
        for (const v of checkReceived(received, origin.as))
          violations.push(`${v}: ${describeInput(origin)}`);
      }
      checked = app.seen.length;
      if (sidecar.child.exitCode !== null) {
        violations.push(`sidecar exited (${sidecar.child.exitCode}) after ${describeInput(input)}`);
        break;
      }
      if (wireInputs % 500 === 499)
        options.progress?.(`${wireInputs + 1} inputs, ${violations.length} violations`);
    }
    const rssEnd = await rss(pid);
    if (sidecar.child.exitCode !== null) violations.push("sidecar is not running at the end");
    else if ((await sidecar.readyz()) !== 200) violations.push("sidecar not ready at the end");
    for (const line of sidecar.logs)
      if (line.level === "error" || Number(line.level) >= 50)
        violations.push(
          `sidecar logged an error: ${String(line.msg)} ${JSON.stringify(line).slice(0, 300)}`,
        );
    const limit = options.rssGrowthLimit ?? 128 * 1024 * 1024;
    if (rssStart > 0 && rssEnd - rssStart > limit)
      violations.push(
        `resident memory grew by ${mib(rssEnd - rssStart)} MiB (limit ${mib(limit)})`,
      );
    return {
      wireInputs,
      reachedApp,
      lateArrivals,
      refused,
      rssStartMiB: mib(rssStart),
      rssEndMiB: mib(rssEnd),
    };
  } finally {
    await sidecar.kill();
    await app.close();
    await rm(pki.dir, { recursive: true, force: true });
  }
}

/** The invariants on one request the app received from a peer holding `tenant`'s certificate. */
export function checkReceived(received: SeenRequest, tenant: string): string[] {
  const problems: string[] = [];
  const h = received.headers;
  if (h["x-palisade-tenant"] !== tenant)
    problems.push(`app saw tenant ${String(h["x-palisade-tenant"])} for ${tenant}`);
  const caller = `spiffe://${TRUST_DOMAIN}/tenant/${tenant}/sa/orders`;
  if (h["x-palisade-caller"] !== caller)
    problems.push(`app saw caller ${String(h["x-palisade-caller"])}`);
  const names = Object.keys(h);
  for (const name of names) {
    // As PHP reads it: `_`, `.` and other punctuation are all `-` (HTTP_X_PALISADE_TENANT).
    const dashed = name.replace(/[^a-z0-9-]/g, "-");
    if (dashed.startsWith("x-palisade-") && !STAMPED.has(name))
      problems.push(`reserved ${name} reached the app`);
    if (ROUTING.test(dashed)) problems.push(`routing header ${name} reached the app`);
  }
  if (names.length > MAX_APP_HEADERS) problems.push(`${names.length} headers reached the app`);
  const host = h.host ?? "";
  const parsed = appHost(host);
  if (/[@/?#\s\\]/.test(host) || (host !== "" && parsed === undefined))
    problems.push(`Host ${JSON.stringify(host)} reached the app`);
  const target = appTarget(received.url, parsed ?? "app.local");
  const granted =
    tenant === GRANT.from &&
    target === GRANT.to &&
    (received.method === "GET" || received.method === "HEAD") &&
    underGrant(decodeURIComponent(received.url.split("?")[0] ?? ""));
  if (target !== undefined && target !== tenant && !granted)
    problems.push(`app routed ${JSON.stringify(received.url)} to ${target} for ${tenant}`);
  return problems;
}

/** `/tenants/acme/reports/**`: the collection itself (`**` is zero or more segments) or below. */
function underGrant(path: string): boolean {
  return path.startsWith(GRANT.prefix) || path === GRANT.prefix.slice(0, -1);
}

function describeInput(input: FuzzRequest): string {
  const text = input.raw ? input.raw.toString("latin1") : serialize(input);
  return JSON.stringify(text.length > 300 ? `${text.slice(0, 300)}…(${text.length} bytes)` : text);
}

async function rss(pid: number): Promise<number> {
  try {
    const status = await readFile(`/proc/${pid}/status`, "utf8");
    return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024;
  } catch {
    return 0;
  }
}

const mib = (bytes: number) => Math.round(bytes / 1024 / 102.4) / 10;
