/**
 * Who the probe can be: the real tenant (its own SVID from the PKI directory), the other
 * tenant (its SVID, for cross-tenant cache reads), and forged identities minted on the
 * spot: a rogue CA, several URI SANs, another trust domain, expired and not-yet-valid
 * leaves, a CA used as a leaf, a leaf issued by the tenant's CA that claims the other
 * tenant, a forged issuer name, and an honest chain through an intermediate. Forging
 * under the tenant's CA needs its key (`ca.key`, as `palisade certs init` writes); without
 * it those cases are skipped, not failed.
 */
import { X509Certificate } from "node:crypto";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { parseWorkloadId, formatWorkloadId, type WorkloadId } from "../tenancy/spiffe.js";
import type { ClientIdentity } from "./wire.js";

export interface TenantPki {
  tenant: string;
  id: WorkloadId;
  svid: ClientIdentity;
  ca: { certPem: string; keyPem?: string };
}

/** Reads `<dir>/<tenant>/ca.crt` (+ `ca.key` if present) and one SVID (`service` or the first). */
export async function loadTenantPki(
  dir: string,
  tenant: string,
  service: string | undefined,
): Promise<TenantPki> {
  const folder = join(dir, tenant);
  const names = (await readdir(folder)).filter((n) => n.endsWith(".crt") && n !== "ca.crt").sort();
  const chosen = service === undefined ? names[0]?.slice(0, -4) : service;
  if (chosen === undefined) throw new Error(`no SVID (<service>.crt) in ${folder}`);
  const [certPem, keyPem, caCert, caKey] = await Promise.all([
    readFile(join(folder, `${chosen}.crt`), "utf8"),
    readFile(join(folder, `${chosen}.key`), "utf8"),
    readFile(join(folder, "ca.crt"), "utf8"),
    readFile(join(folder, "ca.key"), "utf8").catch(() => undefined),
  ]);
  const id = workloadIdOf(certPem);
  if (!id || id.tenant !== tenant)
    throw new Error(`${folder}/${chosen}.crt is not an SVID of tenant ${tenant}`);
  return {
    tenant,
    id,
    svid: { certPem, keyPem },
    ca: { certPem: caCert, ...(caKey === undefined ? {} : { keyPem: caKey }) },
  };
}

function workloadIdOf(certPem: string): WorkloadId | undefined {
  const sans = new X509Certificate(certPem).subjectAltName ?? "";
  const uri = /URI:(spiffe:\/\/[^,\s]+)/.exec(sans)?.[1];
  return uri === undefined ? undefined : parseWorkloadId(uri);
}

export interface ForgedIdentity {
  name: string;
  /** What it tries, for the report. */
  claim: string;
  /** The tenant its certificate names: the probe asks for that tenant's resources. */
  claims: "self" | "other";
  identity: ClientIdentity;
  /** True for the one honest identity: a chain through an intermediate must be accepted. */
  legitimate?: boolean;
}

const HOUR_MS = 3_600_000;

/**
 * Mints the forged identities. `self` is the probing tenant, `other` the victim. Those
 * that need `self`'s CA key are left out when it is not there.
 */
export async function forgeIdentities(
  self: TenantPki,
  other: TenantPki,
): Promise<{
  forged: ForgedIdentity[];
  skipped: string[];
}> {
  // node-forge is loaded only by the commands that mint certificates.
  const { createCa, issueLeaf, newRsaKey } = await import("../tls/dev-pki.js");
  const key = await newRsaKey();
  const { trustDomain, service } = self.id;
  const selfUri = formatWorkloadId(trustDomain, self.tenant, service);
  const otherUri = formatWorkloadId(trustDomain, other.tenant, service);
  const withChain = (leaf: { certPem: string; keyPem: string }, ...chain: string[]) => ({
    certPem: [leaf.certPem, ...chain].join(""),
    keyPem: leaf.keyPem,
  });

  const rogue = await createCa({ commonName: "Palisade probe rogue CA", keyPem: key });
  const forged: ForgedIdentity[] = [
    {
      name: "rogue-ca-claims-self",
      claims: "self",
      claim: `a CA of no tenant issues ${self.tenant}'s id`,
      identity: await issueLeaf(rogue, { uris: [selfUri], keyPem: key }),
    },
    {
      name: "rogue-ca-claims-other",
      claims: "other",
      claim: `a CA of no tenant issues ${other.tenant}'s id`,
      identity: await issueLeaf(rogue, { uris: [otherUri], keyPem: key }),
    },
    {
      name: "forged-issuer-name",
      claims: "other",
      claim: `${other.tenant}'s CA named as issuer, signed by another key`,
      // Named as issued by the other tenant's CA, signed with a key that is not that CA's.
      identity: await issueLeaf(
        { certPem: other.ca.certPem, keyPem: key },
        { uris: [otherUri], keyPem: key, signingKeyPem: key },
      ),
    },
  ];
  const caKey = self.ca.keyPem;
  if (caKey === undefined) {
    return { forged, skipped: [`no ${self.tenant}/ca.key: forgeries under the tenant's CA`] };
  }
  const ca = { certPem: self.ca.certPem, keyPem: caKey };
  const now = Date.now();
  const intermediate = await createCa({
    commonName: `Palisade probe intermediate ${self.tenant}`,
    issuer: ca,
    keyPem: key,
    pathLen: 0,
  });
  forged.push(
    {
      name: "own-ca-claims-other",
      claims: "other",
      claim: `${self.tenant}'s CA issues ${other.tenant}'s id (a shared CA accepts it)`,
      identity: await issueLeaf(ca, { uris: [otherUri], keyPem: key }),
    },
    {
      name: "two-uri-sans",
      claims: "other",
      claim: `one certificate naming ${self.tenant} and ${other.tenant}`,
      identity: await issueLeaf(ca, { uris: [selfUri, otherUri], keyPem: key }),
    },
    {
      name: "other-trust-domain",
      claims: "other",
      claim: `${other.tenant} in another trust domain`,
      identity: await issueLeaf(ca, {
        uris: [formatWorkloadId(`probe-${trustDomain}`, other.tenant, service)],
        keyPem: key,
      }),
    },
    {
      name: "expired-leaf",
      claims: "self",
      claim: "a leaf past its notAfter",
      identity: await issueLeaf(ca, {
        uris: [selfUri],
        keyPem: key,
        notBefore: new Date(now - 48 * HOUR_MS),
        notAfter: new Date(now - 24 * HOUR_MS),
      }),
    },
    {
      name: "not-yet-valid-leaf",
      claims: "self",
      claim: "a leaf before its notBefore",
      identity: await issueLeaf(ca, {
        uris: [selfUri],
        keyPem: key,
        notBefore: new Date(now + 24 * HOUR_MS),
        notAfter: new Date(now + 48 * HOUR_MS),
      }),
    },
    {
      name: "ca-as-leaf",
      claims: "self",
      claim: "a certificate with cA=TRUE used as a client identity",
      identity: await issueLeaf(ca, { uris: [selfUri], keyPem: key, ca: true }),
    },
    {
      name: "intermediate-claims-other",
      claims: "other",
      claim: `an intermediate under ${self.tenant}'s CA issues ${other.tenant}'s id`,
      identity: withChain(
        await issueLeaf(intermediate, { uris: [otherUri], keyPem: key }),
        intermediate.certPem,
      ),
    },
    {
      name: "intermediate-chain-accepted",
      claims: "self",
      claim: `an honest chain through an intermediate under ${self.tenant}'s CA`,
      identity: withChain(
        await issueLeaf(intermediate, { uris: [selfUri], keyPem: key }),
        intermediate.certPem,
      ),
      legitimate: true,
    },
  );
  return { forged, skipped: [] };
}
