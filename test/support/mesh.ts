/**
 * Test meshes on loopback: a dev PKI in a temp dir (support/pki.ts), config files written from objects,
 * sidecars started in-process on port 0, and mTLS clients holding a tenant's certificate.
 */
import { mkdtemp, writeFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { stringify } from "yaml";
import { Agent, request, type Dispatcher } from "undici";
import { TRUST_DOMAIN, type Pki } from "./pki.js";
import { Sidecar } from "../../src/sidecar.js";

export { makePki, TRUST_DOMAIN, type Pki } from "./pki.js";

/** A config for `service` holding `tenants`' certificates from `pki`, listening on port 0. */
export function baseConfig(
  pki: Pki,
  service: string,
  tenants: string[],
  app: string,
): Record<string, unknown> {
  return {
    service,
    trustDomain: TRUST_DOMAIN,
    inbound: { listen: "127.0.0.1:0", app, target: { path: "/tenants/{tenant}/**" } },
    outbound: { listen: "127.0.0.1:0", upstreams: {} },
    admin: { listen: "127.0.0.1:0" },
    // Its default (0.0.0.0:15020) would collide between sidecars and test runs.
    stats: { listen: "127.0.0.1:0" },
    tenants: Object.fromEntries(
      tenants.map((t) => [
        t,
        {
          ca: join(pki.dir, t, "ca.crt"),
          cert: join(pki.dir, t, `${service}.crt`),
          key: join(pki.dir, t, `${service}.key`),
        },
      ]),
    ),
    telemetry: { logs: { level: "info" } },
  };
}

export interface LogLine {
  log?: string;
  level: string;
  msg?: string;
  [key: string]: unknown;
}

export interface RunningSidecar {
  sidecar: Sidecar;
  configFile: string;
  logs: LogLine[];
  inbound: string;
  outbound: string;
  admin: string;
  stop(): Promise<void>;
}

export async function startSidecar(config: Record<string, unknown>): Promise<RunningSidecar> {
  const dir = await mkdtemp(join(tmpdir(), "palisade-config-"));
  const configFile = join(dir, "palisade.yaml");
  await writeFile(configFile, stringify(config));
  const logs: LogLine[] = [];
  const sidecar = await Sidecar.start({
    configFile,
    logStream: { write: (line: string) => void logs.push(JSON.parse(line) as LogLine) },
  });
  const a = sidecar.addresses();
  let stopped: Promise<void> | undefined;
  return {
    sidecar,
    configFile,
    logs,
    inbound: `https://127.0.0.1:${a.inbound.port}`,
    outbound: `http://127.0.0.1:${a.outbound.port}`,
    admin: `http://127.0.0.1:${a.admin.port}`,
    // Idempotent: a test may stop early what its file's teardown stops again.
    stop: () =>
      (stopped ??= (async () => {
        await sidecar.stop();
        await rm(dir, { recursive: true, force: true });
      })()),
  };
}

export interface ClientOptions {
  cert?: string;
  key?: string;
  ca?: string;
  servername?: string;
}

/** An mTLS client presenting `tenant`'s certificate for `service`, with SNI for `target`. */
export async function tenantClient(
  pki: Pki,
  tenant: string,
  service: string,
  serverService: string,
  overrides: ClientOptions = {},
): Promise<Agent> {
  return new Agent({
    connect: {
      cert: overrides.cert ?? (await pki.cert(tenant, service)),
      key: overrides.key ?? (await pki.key(tenant, service)),
      ca: overrides.ca ?? (await pki.ca(tenant)),
      servername: overrides.servername ?? `${tenant}.${serverService}.${TRUST_DOMAIN}`,
      rejectUnauthorized: true,
      // The server's SVID has a URI SAN only; the SNI name is matched by Palisade itself.
      checkServerIdentity: () => undefined,
    },
  });
}

export interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json: () => Record<string, unknown>;
}

export async function send(
  dispatcher: Dispatcher | undefined,
  url: string,
  options: { method?: string; headers?: Record<string, string | string[]>; body?: string } = {},
): Promise<Answer> {
  const response = await request(url, {
    ...(dispatcher ? { dispatcher } : {}),
    method: options.method ?? "GET",
    headers: options.headers ?? {},
    body: options.body ?? null,
  });
  const text = await response.body.text();
  return {
    status: response.statusCode,
    headers: response.headers,
    text,
    json: () => JSON.parse(text) as Record<string, unknown>,
  };
}
