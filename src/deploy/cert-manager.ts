/**
 * cert-manager resources for Palisade's per-tenant trust: a self-signed Issuer mints one
 * root CA per tenant, each root backs that tenant's own CA Issuer, and every (tenant,
 * service) pair gets a Certificate whose only name is its SPIFFE URI SAN. The leaf Secret
 * carries `ca.crt` (the tenant's CA), `tls.crt` and `tls.key`: the three files a tenant
 * entry names when the Secret is mounted at `/etc/palisade/tenants/<tenant>/`.
 */
import { formatWorkloadId } from "../tenancy/spiffe.js";

export interface CertManagerOptions {
  tenants: readonly string[];
  services: readonly string[];
  trustDomain: string;
  namespace?: string | undefined;
}

export type Manifest = Record<string, unknown> & {
  kind: string;
  metadata: { name: string; [key: string]: unknown };
};

/** Root CAs live long and renew a month ahead; a new root must reach every peer's bundle. */
const CA_DURATION = "8760h";
const CA_RENEW_BEFORE = "720h";
/**
 * Leaves live 90 days and renew at half-life: well before `palisade check`'s 30-day expiry
 * warning, with weeks of slack if cert-manager is down when renewal falls due.
 */
const LEAF_DURATION = "2160h";
const LEAF_RENEW_BEFORE = "1080h";
/** EC P-256, a new key on every renewal. */
const PRIVATE_KEY = { algorithm: "ECDSA", size: 256, rotationPolicy: "Always" };
/**
 * What the loader requires of a leaf (src/tls/key-usage.ts): digitalSignature for the TLS
 * CertificateVerify, and both extended usages, as each sidecar is a server to its callers
 * and a client to its upstreams. No keyEncipherment: it means nothing for an EC key.
 */
export const LEAF_USAGES = ["digital signature", "server auth", "client auth"] as const;

export const SELF_SIGNED_ISSUER = "palisade-selfsigned";
export const caIssuerName = (tenant: string) => `palisade-${tenant}`;
export const caSecretName = (tenant: string) => `palisade-${tenant}-ca`;
/** The leaf Secret a sidecar mounts as `/etc/palisade/tenants/<tenant>/`. */
export const leafSecretName = (tenant: string, service: string) => `palisade-${tenant}-${service}`;

export function certManagerManifests(options: CertManagerOptions): Manifest[] {
  const meta = (name: string) => ({
    name,
    ...(options.namespace ? { namespace: options.namespace } : {}),
    labels: { "app.kubernetes.io/part-of": "palisade" },
  });
  const issuer = (name: string, spec: unknown): Manifest => ({
    apiVersion: "cert-manager.io/v1",
    kind: "Issuer",
    metadata: meta(name),
    spec,
  });
  const certificate = (name: string, spec: unknown): Manifest => ({
    apiVersion: "cert-manager.io/v1",
    kind: "Certificate",
    metadata: meta(name),
    spec,
  });
  const perTenant = options.tenants.flatMap((tenant) => [
    certificate(caSecretName(tenant), {
      isCA: true,
      commonName: `palisade ${tenant} CA`,
      secretName: caSecretName(tenant),
      duration: CA_DURATION,
      renewBefore: CA_RENEW_BEFORE,
      privateKey: PRIVATE_KEY,
      issuerRef: { name: SELF_SIGNED_ISSUER, kind: "Issuer", group: "cert-manager.io" },
    }),
    issuer(caIssuerName(tenant), { ca: { secretName: caSecretName(tenant) } }),
    ...options.services.map((service) =>
      certificate(leafSecretName(tenant, service), {
        secretName: leafSecretName(tenant, service),
        // The URI SAN is the whole identity: no common name, no DNS names.
        uris: [formatWorkloadId(options.trustDomain, tenant, service)],
        duration: LEAF_DURATION,
        renewBefore: LEAF_RENEW_BEFORE,
        privateKey: PRIVATE_KEY,
        usages: [...LEAF_USAGES],
        issuerRef: { name: caIssuerName(tenant), kind: "Issuer", group: "cert-manager.io" },
      }),
    ),
  ]);
  return [issuer(SELF_SIGNED_ISSUER, { selfSigned: {} }), ...perTenant];
}
