/**
 * The generated files under deploy/: the PrometheusRule (config/prometheus/palisade-rules.yml
 * wrapped for the Prometheus Operator), the dashboards ConfigMap (dashboards/*.json for
 * Grafana's sidecar) and the cert-manager example (`palisade certs cert-manager`). The
 * deploy test compares the shipped files with these; after changing a source, rewrite them:
 *
 *   npx tsx test/support/deploy-manifests.ts && npx prettier --write deploy
 */
import { readdir, readFile, writeFile } from "node:fs/promises";
import { basename, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parse, stringify } from "yaml";
import { certManagerManifests, type Manifest } from "../../src/deploy/cert-manager.js";
import { renderManifests } from "../../src/deploy/cert-manager-command.js";

export const ROOT = fileURLToPath(new URL("../..", import.meta.url));
export const KUBERNETES_DIR = join(ROOT, "deploy/kubernetes");
export const CERT_MANAGER_DIR = join(ROOT, "deploy/cert-manager");

export const CERT_MANAGER_EXAMPLE = {
  tenants: ["acme", "globex"],
  services: ["orders"],
  trustDomain: "mesh.local",
};

const PART_OF = { "app.kubernetes.io/part-of": "palisade" };

export async function prometheusRule(): Promise<Manifest> {
  const rules = parse(
    await readFile(join(ROOT, "config/prometheus/palisade-rules.yml"), "utf8"),
  ) as { groups: unknown[] };
  return {
    apiVersion: "monitoring.coreos.com/v1",
    kind: "PrometheusRule",
    metadata: { name: "palisade", labels: PART_OF },
    spec: { groups: rules.groups },
  };
}

export async function dashboardsConfigMap(): Promise<Manifest> {
  const dir = join(ROOT, "dashboards");
  const files = (await readdir(dir)).filter((f) => f.endsWith(".json")).sort();
  const data = Object.fromEntries(
    await Promise.all(
      files.map(async (f) => [basename(f), await readFile(join(dir, f), "utf8")] as const),
    ),
  );
  return {
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: {
      name: "palisade-dashboards",
      // Grafana's dashboard sidecar (kube-prometheus-stack) loads ConfigMaps with this label.
      labels: { ...PART_OF, grafana_dashboard: "1" },
      annotations: { grafana_folder: "Palisade" },
    },
    data,
  };
}

async function main(): Promise<void> {
  const header = (from: string) =>
    `# Generated from ${from} by test/support/deploy-manifests.ts; do not edit.\n`;
  await writeFile(
    join(KUBERNETES_DIR, "prometheus-rule.yaml"),
    header("config/prometheus/palisade-rules.yml") + stringify(await prometheusRule()),
  );
  await writeFile(
    join(KUBERNETES_DIR, "grafana-dashboards.yaml"),
    header("dashboards/*.json") + stringify(await dashboardsConfigMap(), { lineWidth: 0 }),
  );
  await writeFile(
    join(CERT_MANAGER_DIR, "certificates.yaml"),
    header(
      "`palisade certs cert-manager --tenants acme,globex --services orders`; the namespace comes from kustomization.yaml",
    ) + renderManifests(certManagerManifests(CERT_MANAGER_EXAMPLE)),
  );
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await main();
