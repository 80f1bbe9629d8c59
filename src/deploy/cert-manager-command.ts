/**
 * `palisade certs cert-manager --tenants a,b --services x,y [--trust-domain D]
 * [--namespace N]`: prints the cert-manager issuers and certificates (multi-document YAML)
 * for `kubectl apply -f -`. Exit 2 with a one-line reason on unusable flags.
 */
import { parseArgs } from "node:util";
import { stringify } from "yaml";
import { isTenantId } from "../tenancy/tenant-id.js";
import { isServiceName, isTrustDomain } from "../tenancy/spiffe.js";
import { certManagerManifests, type Manifest } from "./cert-manager.js";

/** A Kubernetes namespace is an RFC 1123 label. */
const NAMESPACE = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

export function certManagerCommand(
  args: string[],
  out: (text: string) => void = (t) => process.stdout.write(t),
  err: (text: string) => void = (t) => process.stderr.write(t),
): number {
  let values;
  try {
    ({ values } = parseArgs({
      args,
      options: {
        tenants: { type: "string" },
        services: { type: "string" },
        // `--service` is accepted as the singular spelling; both may be given, and add up.
        service: { type: "string" },
        "trust-domain": { type: "string", default: "mesh.local" },
        namespace: { type: "string" },
      },
    }));
  } catch (e) {
    return refuse(err, (e as Error).message);
  }
  const tenants = list(values.tenants);
  const services = [...list(values.services), ...list(values.service)];
  const trustDomain = values["trust-domain"];
  const problem =
    (tenants.length === 0 && "--tenants a,b is required") ||
    (services.length === 0 && "--services x,y is required") ||
    tenants.filter((t) => !isTenantId(t)).map((t) => `not a tenant id: ${JSON.stringify(t)}`)[0] ||
    services
      .filter((s) => !isServiceName(s))
      .map((s) => `not a service name: ${JSON.stringify(s)}`)[0] ||
    (!isTrustDomain(trustDomain) && `not a trust domain: ${JSON.stringify(trustDomain)}`) ||
    (values.namespace !== undefined &&
      !NAMESPACE.test(values.namespace) &&
      `not a namespace: ${JSON.stringify(values.namespace)}`);
  if (problem) return refuse(err, problem);
  out(
    renderManifests(
      certManagerManifests({ tenants, services, trustDomain, namespace: values.namespace }),
    ),
  );
  return 0;
}

export function renderManifests(manifests: readonly Manifest[]): string {
  return manifests.map((m) => `---\n${stringify(m)}`).join("");
}

/** Comma-separated, empty entries dropped, duplicates once. */
function list(value: string | undefined): string[] {
  return [...new Set((value ?? "").split(",").filter((v) => v !== ""))];
}

function refuse(err: (text: string) => void, message: string): number {
  err(`palisade certs cert-manager: ${message}\n`);
  return 2;
}
