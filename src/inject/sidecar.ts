/**
 * What `palisade inject` adds to a pod: the sidecar container, its volumes, and the proxy
 * environment of the app containers. Names, ports and mount paths are the shared Kubernetes
 * contract (docs/inject.md); `deploy/kubernetes/` spells the same pod by hand.
 */
import { leafSecretName } from "../deploy/cert-manager.js";
import { isServiceName } from "../tenancy/spiffe.js";
import { isTenantId } from "../tenancy/tenant-id.js";

export const SIDECAR_NAME = "palisade";
export const INJECTED_ANNOTATION = "palisade.dev/injected";
export const CONFIG_VOLUME = "palisade-config";
export const TENANT_VOLUME_PREFIX = "palisade-tenant-";
export const CONFIG_DIR = "/etc/palisade";
export const OUTBOUND_PROXY = "http://127.0.0.1:15001";
/** Appended to an existing NO_PROXY as one suffix, so uninject can cut exactly what it added. */
export const NO_PROXY_ENTRIES = "127.0.0.1,localhost";
/** Every port the sidecar listens on (admin 15000, outbound 15001, inbound 15006, stats 15020). */
export const SIDECAR_PORTS = [15000, 15001, 15006, 15020] as const;

export interface InjectOptions {
  image: string;
  configMap: string;
  tenants: readonly string[];
  /**
   * The service whose certificates the pod mounts (Secret `palisade-<tenant>-<service>`, as
   * `palisade certs cert-manager` names them). Absent: each workload's own name.
   */
  service?: string;
}

// Volume and container names are DNS labels: at most 63 characters.
const DNS_LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
const DNS_SUBDOMAIN =
  /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*$/;

/** Every reason the options cannot make a valid pod, so a bad flag fails before any input is read. */
export function optionProblems(options: InjectOptions): string[] {
  const problems: string[] = [];
  if (!DNS_SUBDOMAIN.test(options.configMap)) {
    problems.push(
      `--config-map ${JSON.stringify(options.configMap)} is not a Kubernetes object name`,
    );
  }
  if (options.image === "" || /\s/.test(options.image)) {
    problems.push(`--image ${JSON.stringify(options.image)} is not an image reference`);
  }
  if (options.tenants.length === 0) problems.push("--tenants names no tenant");
  for (const tenant of options.tenants) {
    if (!isTenantId(tenant))
      problems.push(`--tenants: ${JSON.stringify(tenant)} is not a tenant id`);
    else if (!DNS_LABEL.test(tenantVolume(tenant))) {
      problems.push(`--tenants: ${tenant} is too long for the volume name ${tenantVolume(tenant)}`);
    }
  }
  if (options.service !== undefined && !isServiceName(options.service)) {
    problems.push(`--service ${JSON.stringify(options.service)} is not a service name`);
  }
  if (new Set(options.tenants).size !== options.tenants.length) {
    problems.push("--tenants names a tenant twice");
  }
  return problems;
}

export function tenantVolume(tenant: string): string {
  return `${TENANT_VOLUME_PREFIX}${tenant}`;
}

const probe = (path: string) => ({ httpGet: { path, port: "palisade-stats" } });

/**
 * A native sidecar (an init container with `restartPolicy: Always`, Kubernetes 1.29+): it
 * starts before the app and the init containers after it, and stops after them, so a Job
 * still completes. The startup probe holds the next container back until `/readyz` passes.
 */
export function sidecarContainer(options: InjectOptions): Record<string, unknown> {
  return {
    name: SIDECAR_NAME,
    image: options.image,
    restartPolicy: "Always",
    ports: [
      { name: "palisade-in", containerPort: 15006, protocol: "TCP" },
      { name: "palisade-stats", containerPort: 15020, protocol: "TCP" },
    ],
    startupProbe: { ...probe("/readyz"), periodSeconds: 1, failureThreshold: 60 },
    readinessProbe: { ...probe("/readyz"), periodSeconds: 5 },
    livenessProbe: { ...probe("/healthz"), periodSeconds: 10, failureThreshold: 3 },
    // As deploy/kubernetes/deployment.yaml, which says how bench/ sized them.
    resources: { requests: { cpu: "100m", memory: "160Mi" }, limits: { memory: "384Mi" } },
    securityContext: {
      runAsNonRoot: true,
      runAsUser: 10001,
      runAsGroup: 10001,
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ["ALL"] },
      seccompProfile: { type: "RuntimeDefault" },
    },
    volumeMounts: [
      { name: CONFIG_VOLUME, mountPath: CONFIG_DIR, readOnly: true },
      ...options.tenants.map((tenant) => ({
        name: tenantVolume(tenant),
        mountPath: `${CONFIG_DIR}/tenants/${tenant}`,
        readOnly: true,
      })),
    ],
  };
}

/**
 * Mounted as directories, never with subPath: Kubernetes' `..data` swaps reach the watcher.
 * The Secrets keep Kubernetes' default mode: only the sidecar mounts them, and the 0440 of
 * deploy/kubernetes/ needs a pod-wide fsGroup, which inject does not impose on the app.
 */
export function sidecarVolumes(options: InjectOptions, service: string): Record<string, unknown>[] {
  return [
    { name: CONFIG_VOLUME, configMap: { name: options.configMap } },
    ...options.tenants.map((tenant) => ({
      name: tenantVolume(tenant),
      secret: { secretName: leafSecretName(tenant, service) },
    })),
  ];
}

export function isSidecarVolume(name: unknown): boolean {
  return (
    name === CONFIG_VOLUME || (typeof name === "string" && name.startsWith(TENANT_VOLUME_PREFIX))
  );
}
