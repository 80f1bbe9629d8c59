/**
 * Certificate expiry, watched at run time: every generation exports each tenant's
 * certificate expiry, and certificates close to expiry are named in a warning on each
 * load and again on a timer, because a sidecar can run for weeks on one generation.
 */
import type { X509Certificate } from "node:crypto";
import type { Generation } from "../config/generation.js";
import { inspect } from "./inspect.js";
import type { CertSummary } from "./tenant-material.js";

/** Runtime warning horizon (`palisade check` lints at 30 days; this is the last call). */
export const EXPIRY_WARNING_MS = 7 * 86_400_000;
/** How often a running sidecar re-checks its certificates against the clock. */
export const EXPIRY_CHECK_INTERVAL_MS = 3_600_000;

export interface ExpiringCertificate {
  tenant: string;
  /** `cert`: this sidecar's own SVID (or an intermediate sent with it); `ca`: a trusted root. */
  file: "cert" | "ca";
  subject: string;
  expiresAt: Date;
}

/** Certificates of active tenants that expire within `horizonMs` of `now` (or already have). */
export function expiringCertificates(
  generation: Generation,
  now: Date,
  horizonMs = EXPIRY_WARNING_MS,
): ExpiringCertificate[] {
  const limit = now.getTime() + horizonMs;
  const found: ExpiringCertificate[] = [];
  const check = (tenant: string, file: "cert" | "ca", certs: readonly CertSummary[]) => {
    for (const { subject, notAfter: expiresAt } of certs) {
      if (expiresAt.getTime() <= limit) found.push({ tenant, file, subject, expiresAt });
    }
  };
  for (const tenant of generation.active) {
    const material = generation.tenants.get(tenant);
    if (!material) continue;
    check(tenant, "cert", material.served);
    check(tenant, "ca", material.roots.map(summary));
  }
  return found;
}

function summary(cert: X509Certificate): CertSummary {
  return { subject: cert.subject, notAfter: inspect(cert).notAfter };
}

/** Exports every tenant's certificate expiry and warns about those close to it. */
export function reportExpiry(
  generation: Generation,
  now: Date,
  sinks: {
    metrics: { certExpiry(tenant: string, expiresAt: Date): void };
    log: { warn(fields: object, message: string): void };
  },
): void {
  for (const tenant of generation.tenants.values())
    sinks.metrics.certExpiry(tenant.id, tenant.expiresAt);
  for (const cert of expiringCertificates(generation, now)) {
    const msLeft = cert.expiresAt.getTime() - now.getTime();
    sinks.log.warn(
      {
        tenant: cert.tenant,
        file: cert.file,
        path: generation.config.tenants[cert.tenant]?.[cert.file],
        subject: cert.subject,
        expiresAt: cert.expiresAt.toISOString(),
        daysLeft: Math.floor(msLeft / 86_400_000),
      },
      msLeft <= 0 ? "certificate expired" : "certificate expires soon",
    );
  }
}
