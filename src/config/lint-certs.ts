/**
 * Certificate lint, per tenant: every file of every tenant is read and every problem is
 * reported. What a problem is, is decided by the one inspector the loader also uses
 * (`tls/inspect-tenant.ts`: the loader stops at its first error), so lint and loader cannot
 * disagree. Across tenants: lint-shared-ca.ts, fed with what is read here.
 */
import { resolve } from "node:path";
import { readPemBundle, readPrivateKey } from "../tls/certs.js";
import { inspectTenant, type TenantCerts } from "../tls/inspect-tenant.js";
import type { InspectedTenant } from "../tls/tenant-material.js";
import { mapBounded, TENANT_READ_CONCURRENCY } from "./bounded.js";
import type { Finding, LintInput } from "./lint.js";
import { describeFileName } from "./redact.js";
import type { TenantConfig } from "./schema.js";
import { NOT_A_REGULAR_FILE, readRegularFile } from "./regular-file.js";

export type { TenantCerts } from "../tls/inspect-tenant.js";

export interface LintedCertificates {
  findings: Finding[];
  /** What was read, for the cross-tenant checks. */
  tenants: TenantCerts[];
  /** Tenants with no error finding, as read and parsed: what the loader keeps. */
  inspected: ReadonlyMap<string, InspectedTenant>;
}

/** Every tenant's findings, and what was read. */
export async function lintCertificates(input: LintInput): Promise<LintedCertificates> {
  const inspected = new Map<string, InspectedTenant>();
  const tenants = await mapBounded(
    Object.entries(input.config.tenants),
    TENANT_READ_CONCURRENCY,
    async ([tenant, config]) => {
      const findings: Finding[] = [];
      const read = input.readText ?? readRegularFile;
      const { certs, texts } = await readTenantCerts(read, input.baseDir, tenant, config, findings);
      const { trustDomain, service } = input.config;
      findings.push(
        ...inspectTenant(certs, { trustDomain, service, now: input.now, files: config }),
      );
      const { roots, chain } = certs;
      if (!findings.some((f) => f.level === "error") && roots && chain && texts)
        inspected.set(tenant, { ...texts, roots, chain });
      return { findings, certs };
    },
  );
  return {
    findings: tenants.flatMap((t) => t.findings),
    tenants: tenants.map((t) => t.certs),
    inspected,
  };
}

/** `ENOENT: no such file or directory` from `ENOENT: …, open '<path>'`: without the path. */
function systemProblem(err: Error): string {
  if (err.message.startsWith(NOT_A_REGULAR_FILE)) return NOT_A_REGULAR_FILE;
  return /^[A-Z][A-Z0-9_]*: [^,]*/.exec(err.message)?.[0] ?? "unreadable";
}

/** Reads and parses what it can; each file that fails is one finding. */
async function readTenantCerts(
  readText: (path: string) => Promise<string>,
  baseDir: string,
  tenant: string,
  config: TenantConfig,
  findings: Finding[],
): Promise<{ certs: TenantCerts; texts: Omit<InspectedTenant, "roots" | "chain"> | undefined }> {
  const unreadable = (key: "ca" | "cert" | "key", message: string, name = config[key]) =>
    findings.push({
      level: "error",
      rule: "tenant_material_unreadable",
      message: `${name}: ${message}`,
      path: `tenants.${tenant}.${key}`,
    });
  const read = (key: "ca" | "cert" | "key") =>
    readText(resolve(baseDir, config[key])).catch((err: unknown) => {
      // Neither the name nor the system's message (which repeats it) unless it is a name.
      const problem = systemProblem(err as Error);
      unreadable(key, `cannot read (${problem})`, describeFileName(config[key]));
      return undefined;
    });
  const parse = <T>(key: "ca" | "cert" | "key", text: string | undefined, as: (t: string) => T) => {
    try {
      return text === undefined ? undefined : as(text);
    } catch (err) {
      unreadable(key, (err as Error).message);
      return undefined;
    }
  };
  const [ca, cert, key] = await Promise.all([read("ca"), read("cert"), read("key")]);
  const certs = {
    tenant,
    roots: parse("ca", ca, readPemBundle),
    chain: parse("cert", cert, readPemBundle),
    key: parse("key", key, readPrivateKey),
  };
  const texts =
    ca !== undefined && cert !== undefined && key !== undefined
      ? { caPem: ca, certPem: cert, keyPem: key }
      : undefined;
  return { certs, texts };
}
