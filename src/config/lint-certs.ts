/**
 * Certificate lint, per tenant. The loader (`loadTenantMaterial`) stops a reload at the
 * first bad file; here every tenant is inspected on its own and every problem is reported,
 * with the same building blocks (`readPemBundle`, `keyMatchesCert`, `checkSvid`,
 * `verifyTenantChain`) so that lint and loader cannot disagree about what is acceptable.
 * Across tenants: lint-shared-ca.ts, fed with what is read here.
 */
import { createPrivateKey, type KeyObject, type X509Certificate } from "node:crypto";
import { resolve } from "node:path";
import { keyMatchesCert, notAfter, notBefore, readPemBundle, uriSans } from "../tls/certs.js";
import { pathAllowsPurpose, type Purpose } from "../tls/key-usage.js";
import { checkSvid, verifyTenantPath, type ChainResult } from "../tls/verify-chain.js";
import type { Finding, LintInput } from "./lint.js";
import { describeFileName } from "./redact.js";
import type { TenantConfig } from "./schema.js";
import { NOT_A_REGULAR_FILE, readRegularFile } from "./regular-file.js";

/** Renewal should have happened well before this; a warning leaves time to do it. */
export const EXPIRY_WARNING_MS = 30 * 86_400_000;

/** What could be read of one tenant's files; a part is absent when it could not be. */
export interface TenantCerts {
  tenant: string;
  roots: X509Certificate[] | undefined;
  /** Leaf first, then the cert file's intermediates. */
  chain: X509Certificate[] | undefined;
  key: KeyObject | undefined;
}

/** Every tenant's findings, and what was read, for the cross-tenant checks. */
export async function lintCertificates(
  input: LintInput,
): Promise<{ findings: Finding[]; tenants: TenantCerts[] }> {
  const tenants = await Promise.all(
    Object.entries(input.config.tenants).map(async ([tenant, config]) => {
      const findings: Finding[] = [];
      const read = input.readText ?? readRegularFile;
      const certs = await readTenantCerts(read, input.baseDir, tenant, config, findings);
      findings.push(...lintTenant(input, certs, config));
      return { findings, certs };
    }),
  );
  return { findings: tenants.flatMap((t) => t.findings), tenants: tenants.map((t) => t.certs) };
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
): Promise<TenantCerts> {
  const unreadable = (key: "ca" | "cert" | "key", message: string, name = config[key]) =>
    findings.push({
      level: "error",
      rule: "tenant_material_unreadable",
      message: `${name}: ${message}`,
      path: `tenants.${tenant}.${key}`,
    });
  const read = (key: "ca" | "cert" | "key") =>
    readText(resolve(baseDir, config[key])).catch((err: Error) => {
      // Neither the name nor the system's message (which repeats it) unless it is a name.
      unreadable(key, `cannot read (${systemProblem(err)})`, describeFileName(config[key]));
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
  return {
    tenant,
    roots: parse("ca", ca, readPemBundle),
    chain: parse("cert", cert, readPemBundle),
    key: parse("key", key, createPrivateKey),
  };
}

function lintTenant(input: LintInput, certs: TenantCerts, config: TenantConfig): Finding[] {
  const at = (key: string) => `tenants.${certs.tenant}.${key}`;
  const leaf = certs.chain?.[0];
  const findings: Finding[] = [];
  if (leaf !== undefined && certs.key !== undefined && !keyMatches(certs.key, leaf)) {
    findings.push({
      level: "error",
      rule: "cert_key_mismatch",
      message: `${config.key} is not the private key of ${config.cert}: the TLS handshake would fail`,
      path: at("key"),
    });
  }
  if (leaf !== undefined) findings.push(...lintSvid(input, certs.tenant, leaf, at("cert")));
  const validity = [
    ...(certs.chain ? lintValidity(certs.chain, input.now, at("cert"), false) : []),
    ...(certs.roots ? lintValidity(certs.roots, input.now, at("ca"), true) : []),
  ];
  findings.push(...validity);
  if (leaf === undefined || !certs.chain || !certs.roots) return findings;
  const verified = verifyTenantPath({
    leaf,
    intermediates: certs.chain.slice(1),
    roots: certs.roots,
    now: input.now,
  });
  // An expiry that breaks the chain is already an error above, named on the right file.
  const explained = isValidityFailure(verified) && validity.some((f) => f.level === "error");
  if (!verified.ok && !explained) {
    findings.push({
      level: "error",
      rule: "cert_untrusted_chain",
      message: `${config.cert} does not chain to ${certs.tenant}'s own CA in ${config.ca} (${verified.reason})`,
      path: at("cert"),
    });
  }
  if (verified.ok) {
    // The tenant's certificate is both the inbound server's and the outbound client's: a
    // peer refuses it (bad_key_usage) in the role its key usage leaves out.
    for (const [purpose, role] of ROLES) {
      if (allowsPurpose(verified.path, purpose)) continue;
      findings.push({
        level: "warning",
        rule: "cert_key_usage",
        message: `${config.cert} does not allow ${role} (key usage or extended key usage): peers refuse it there as bad_key_usage`,
        path: at("cert"),
      });
    }
  }
  return findings;
}

const ROLES = [
  ["server", "TLS server authentication (inbound)"],
  ["client", "TLS client authentication (outbound)"],
] as const;

/** Key usage the verifier could not read refuses the chain there, as unknown_ca: not this warning. */
function allowsPurpose(path: readonly X509Certificate[], purpose: Purpose): boolean {
  try {
    return pathAllowsPurpose(path, purpose);
  } catch {
    return true;
  }
}

function keyMatches(key: KeyObject, leaf: X509Certificate): boolean {
  try {
    return keyMatchesCert(key, leaf);
  } catch {
    return false;
  }
}

function lintSvid(
  input: LintInput,
  tenant: string,
  leaf: X509Certificate,
  path: string,
): Finding[] {
  const { trustDomain, service } = input.config;
  const svid = checkSvid(leaf, trustDomain);
  const mismatch = (message: string): Finding[] => [
    { level: "error", rule: "cert_san_mismatch", message, path },
  ];
  if (!svid.ok && svid.reason === "bad_san") {
    return [
      {
        level: "error",
        rule: "cert_not_svid",
        message: `not an SVID: needs exactly one URI SAN spiffe://${trustDomain}/tenant/${tenant}/sa/${service} (found ${describeUris(leaf)})`,
        path,
      },
    ];
  }
  if (!svid.ok) {
    return mismatch(`names ${describeUris(leaf)}, outside trust domain ${trustDomain}`);
  }
  if (svid.tenant !== tenant) {
    return mismatch(
      `names tenant ${svid.tenant} (${svid.spiffeId}), not ${tenant}: peers would take this sidecar for ${svid.tenant}`,
    );
  }
  if (svid.service !== service) {
    return mismatch(`names service ${svid.service} (${svid.spiffeId}), not ${service}`);
  }
  return [];
}

/**
 * Expired and not-yet-valid certificates are errors, except in a CA bundle that still
 * holds a valid CA (a rollover): there the stale one is only clutter.
 */
function lintValidity(
  certs: X509Certificate[],
  now: Date,
  path: string,
  bundle: boolean,
): Finding[] {
  const valid = (c: X509Certificate) => now >= notBefore(c) && now <= notAfter(c);
  const level = bundle && certs.some(valid) ? "warning" : "error";
  const findings: Finding[] = [];
  for (const cert of certs) {
    const name = certLabel(cert);
    const end = notAfter(cert);
    if (now > end) {
      findings.push({
        level,
        rule: "cert_expired",
        message: `${name} expired at ${end.toISOString()}`,
        path,
      });
    } else if (now < notBefore(cert)) {
      findings.push({
        level,
        rule: "cert_not_yet_valid",
        message: `${name} is not valid before ${notBefore(cert).toISOString()}`,
        path,
      });
    } else if (end.getTime() - now.getTime() < EXPIRY_WARNING_MS) {
      const days = Math.floor((end.getTime() - now.getTime()) / 86_400_000);
      findings.push({
        level: "warning",
        rule: "cert_expiring",
        message: `${name} expires at ${end.toISOString()} (in ${days} day(s)): renew it`,
        path,
      });
    }
  }
  return findings;
}

export function isValidityFailure(result: ChainResult): boolean {
  return !result.ok && (result.reason === "expired" || result.reason === "not_yet_valid");
}

export function certLabel(cert: X509Certificate): string {
  // Node leaves `subject` undefined for an empty name, as in cert-manager's URI-only SVIDs.
  const subject = (cert.subject as string | undefined)?.split("\n").join(", ") ?? "";
  return `"${subject}" (sha256 ${cert.fingerprint256.slice(0, 23)}…)`;
}

function describeUris(leaf: X509Certificate): string {
  try {
    const uris = uriSans(leaf);
    return uris.length === 0 ? "no URI SAN" : uris.join(", ");
  } catch {
    return "an unparsable subjectAltName";
  }
}
