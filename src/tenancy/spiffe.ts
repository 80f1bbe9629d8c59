/**
 * SPIFFE IDs (https://github.com/spiffe/spiffe/blob/main/standards/SPIFFE-ID.md) and
 * Palisade's workload shape `spiffe://<trustDomain>/tenant/<tenant>/sa/<service>`.
 *
 * Parsing is by the spec's grammar, never through `URL`: `URL` normalises (case
 * folding, percent-decoding, dot segments), and an id that only becomes valid after
 * normalisation must be refused, not repaired.
 */
import { isTenantId } from "./tenant-id.js";

export interface SpiffeId {
  trustDomain: string;
  /** `""` for a trust domain id, otherwise `/seg/seg…`. */
  path: string;
}

export interface WorkloadId {
  trustDomain: string;
  tenant: string;
  service: string;
}

const SCHEME = "spiffe://";
/** The spec's limits: 2048 bytes for the whole id, 255 for the trust domain. */
const MAX_ID_LENGTH = 2048;
const MAX_TRUST_DOMAIN_LENGTH = 255;
const TRUST_DOMAIN = /^[a-z0-9._-]+$/;
const PATH_SEGMENT = /^[A-Za-z0-9._-]+$/;
/**
 * Service names end up in SNI (`<tenant>.<service>.<trustDomain>`) and in config keys,
 * so they are held to the config's DNS-name shape, stricter than a SPIFFE segment.
 */
const SERVICE = /^[a-z0-9](?:[a-z0-9.-]{0,251}[a-z0-9])?$/;

export function isTrustDomain(value: string): boolean {
  return value.length <= MAX_TRUST_DOMAIN_LENGTH && TRUST_DOMAIN.test(value);
}

export function isServiceName(value: string): boolean {
  return SERVICE.test(value);
}

/**
 * Any valid SPIFFE ID, or `undefined`. Characters outside the spec's sets (`%`, `?`,
 * `#`, `@`, `:`, upper case in the trust domain…) make the id invalid, which also rules
 * out queries, fragments, ports, userinfo and percent-encoding.
 */
export function parseSpiffeId(uri: string): SpiffeId | undefined {
  if (uri.length > MAX_ID_LENGTH || !uri.startsWith(SCHEME)) return undefined;
  const rest = uri.slice(SCHEME.length);
  const slash = rest.indexOf("/");
  const trustDomain = slash === -1 ? rest : rest.slice(0, slash);
  const path = slash === -1 ? "" : rest.slice(slash);
  if (!isTrustDomain(trustDomain)) return undefined;
  if (path !== "" && !path.slice(1).split("/").every(isValidSegment)) return undefined;
  return { trustDomain, path };
}

function isValidSegment(segment: string): boolean {
  return segment !== "." && segment !== ".." && PATH_SEGMENT.test(segment);
}

/** A Palisade workload id, or `undefined` for anything else, valid SPIFFE or not. */
export function parseWorkloadId(uri: string): WorkloadId | undefined {
  const id = parseSpiffeId(uri);
  if (!id) return undefined;
  const segments = id.path.split("/");
  if (segments.length !== 5) return undefined;
  const [, tenantKey, tenant, saKey, service] = segments as [
    string,
    string,
    string,
    string,
    string,
  ];
  if (tenantKey !== "tenant" || saKey !== "sa") return undefined;
  if (!isTenantId(tenant) || !isServiceName(service)) return undefined;
  return { trustDomain: id.trustDomain, tenant, service };
}

/** Throws on invalid parts: they come from config or code, never from the network. */
export function formatWorkloadId(trustDomain: string, tenant: string, service: string): string {
  if (!isTrustDomain(trustDomain)) throw new Error(`not a SPIFFE trust domain: ${trustDomain}`);
  if (!isTenantId(tenant)) throw new Error(`not a tenant id: ${tenant}`);
  if (!isServiceName(service)) throw new Error(`not a service name: ${service}`);
  return `${SCHEME}${trustDomain}/tenant/${tenant}/sa/${service}`;
}
