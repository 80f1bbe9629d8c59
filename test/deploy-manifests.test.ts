/**
 * Everything under deploy/ against the Kubernetes and CRD schemas, against the sources it
 * is generated from (alert rules, dashboards, `palisade certs cert-manager`), and against
 * the conventions `palisade inject` shares: container and port names, probes, mounts,
 * security context, the config's tenant paths and the Secrets that fill them.
 */
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { parse } from "yaml";
import { describe, expect, it } from "vitest";
import { configSchema, type Config } from "../src/config/schema.js";
import { lintListeners } from "../src/config/lint.js";
import { certManagerCommand } from "../src/deploy/cert-manager-command.js";
import { leafSecretName, LEAF_USAGES } from "../src/deploy/cert-manager.js";
import {
  CERT_MANAGER_DIR,
  CERT_MANAGER_EXAMPLE,
  dashboardsConfigMap,
  KUBERNETES_DIR,
  prometheusRule,
  ROOT,
} from "./support/deploy-manifests.js";
import { parseManifests, validateObject, type KubeObject } from "./support/kube-validate.js";

async function manifestsIn(dir: string): Promise<Map<string, KubeObject[]>> {
  const files = (await readdir(dir)).filter(
    (f) => f.endsWith(".yaml") && f !== "kustomization.yaml",
  );
  const entries = await Promise.all(
    files.map(async (f) => [f, parseManifests(await readFile(join(dir, f), "utf8"))] as const),
  );
  return new Map(entries);
}

const kubernetes = await manifestsIn(KUBERNETES_DIR);
const certManager = await manifestsIn(CERT_MANAGER_DIR);
const all = [...kubernetes.values(), ...certManager.values()].flat();
const one = (kind: string, name?: string): KubeObject => {
  const found = all.filter((o) => o.kind === kind && (!name || o.metadata.name === name));
  expect(found, `${kind} ${name ?? ""}`).toHaveLength(1);
  return found[0]!;
};

// Typed views of the few fields these tests read.
interface Container {
  name: string;
  image: string;
  restartPolicy?: string;
  ports?: { name: string; containerPort: number }[];
  env?: { name: string; value: string }[];
  volumeMounts: { name: string; mountPath: string; readOnly?: boolean }[];
  securityContext: Record<string, unknown>;
  startupProbe: { httpGet: { path: string; port: string } };
  readinessProbe: { httpGet: { path: string; port: string } };
  livenessProbe: { httpGet: { path: string; port: string } };
  resources: { requests: Record<string, string>; limits: Record<string, string> };
}
interface PodSpec {
  initContainers: Container[];
  containers: Container[];
  volumes: { name: string; configMap?: { name: string }; secret?: { secretName: string } }[];
}
const deployment = one("Deployment", "orders") as unknown as {
  spec: { template: { metadata: { annotations: Record<string, string> }; spec: PodSpec } };
};
const pod = deployment.spec.template.spec;
const sidecar = pod.initContainers.find((c) => c.name === "palisade")!;
const configMap = one("ConfigMap", "palisade-orders") as unknown as {
  data: { "palisade.yaml": string };
};
const config: Config = configSchema.parse(parse(configMap.data["palisade.yaml"]));

describe("schemas", () => {
  it("deploy/ holds the manifests it should", () => {
    expect([...kubernetes.keys()].sort()).toEqual([
      "deployment.yaml",
      "grafana-dashboards.yaml",
      "networkpolicy.yaml",
      "palisade-config.yaml",
      "podmonitor.yaml",
      "prometheus-rule.yaml",
      "service.yaml",
    ]);
    expect([...certManager.keys()]).toEqual(["certificates.yaml"]);
  });

  it.each(all.map((o) => [`${o.kind} ${o.metadata.name}`, o] as const))(
    "%s is valid against its schema",
    (_name, object) => {
      expect(() => validateObject(object)).not.toThrow();
    },
  );

  it("the validators do refuse a broken object (the checks above can fail)", () => {
    const broken = structuredClone(deployment) as unknown as KubeObject;
    const spec = (broken as unknown as typeof deployment).spec.template.spec;
    spec.initContainers[0]!.ports![0]!.containerPort = "15006" as unknown as number;
    expect(() => validateObject(broken)).toThrow(/containerPort/);
    const certificate = structuredClone(one("Certificate", "palisade-acme-orders"));
    (certificate["spec"] as { usages: string[] }).usages = ["digitalSignature"];
    expect(() => validateObject(certificate)).toThrow(/usages/);
    expect(() => validateObject({ ...certificate, kind: "Certifcate" })).toThrow(/no schema/);
  });

  it("each kustomization lists exactly the manifests beside it", async () => {
    for (const [dir, files, extra] of [
      [KUBERNETES_DIR, kubernetes, ["../cert-manager"]],
      [CERT_MANAGER_DIR, certManager, []],
    ] as const) {
      const kustomization = parse(await readFile(join(dir, "kustomization.yaml"), "utf8")) as {
        kind: string;
        namespace: string;
        resources: string[];
      };
      expect(kustomization.kind).toBe("Kustomization");
      expect(kustomization.namespace).toBe("shop");
      expect([...kustomization.resources].sort()).toEqual([...files.keys(), ...extra].sort());
    }
  });
});

describe("generated from their sources", () => {
  it("the PrometheusRule carries config/prometheus/palisade-rules.yml", async () => {
    expect(one("PrometheusRule")).toEqual(await prometheusRule());
  });

  it("the dashboards ConfigMap carries dashboards/*.json, with Grafana's sidecar label", async () => {
    const shipped = one("ConfigMap", "palisade-dashboards");
    expect(shipped).toEqual(await dashboardsConfigMap());
    expect(Object.keys(shipped["data"] as object).sort()).toEqual([
      "palisade-fleet.json",
      "palisade-isolation.json",
    ]);
  });

  it("deploy/cert-manager is what `palisade certs cert-manager` prints", () => {
    const out = runCertManager([
      "--tenants",
      CERT_MANAGER_EXAMPLE.tenants.join(","),
      "--services",
      CERT_MANAGER_EXAMPLE.services.join(","),
    ]);
    expect(out.code).toBe(0);
    expect(parseManifests(out.stdout)).toEqual(certManager.get("certificates.yaml"));
  });

  it("the Grafana provisioning files point at the dashboards' mount and a Prometheus", async () => {
    const dir = join(KUBERNETES_DIR, "grafana/provisioning");
    const dashboards = parse(await readFile(join(dir, "dashboards/palisade.yaml"), "utf8")) as {
      apiVersion: number;
      providers: { type: string; options: { path: string } }[];
    };
    expect(dashboards.apiVersion).toBe(1);
    expect(dashboards.providers[0]).toMatchObject({ type: "file", folder: "Palisade" });
    const datasources = parse(await readFile(join(dir, "datasources/palisade.yaml"), "utf8")) as {
      datasources: { type: string }[];
    };
    expect(datasources.datasources[0]!.type).toBe("prometheus");
  });
});

describe("the native sidecar", () => {
  it("is an init container that keeps running, with the project's image", async () => {
    const pkg = JSON.parse(await readFile(join(ROOT, "package.json"), "utf8")) as {
      version: string;
    };
    expect(sidecar.restartPolicy).toBe("Always");
    expect(sidecar.image).toBe(`ghcr.io/palisade-mesh/palisade:${pkg.version}`);
    expect(deployment.spec.template.metadata.annotations["palisade.dev/injected"]).toBe("true");
  });

  it("exposes the inbound and stats ports by name, and probes the stats port", () => {
    expect(sidecar.ports).toEqual([
      { name: "palisade-in", containerPort: 15006, protocol: "TCP" },
      { name: "palisade-stats", containerPort: 15020, protocol: "TCP" },
    ]);
    expect(sidecar.startupProbe.httpGet).toEqual({ path: "/readyz", port: "palisade-stats" });
    expect(sidecar.readinessProbe.httpGet).toEqual({ path: "/readyz", port: "palisade-stats" });
    expect(sidecar.livenessProbe.httpGet).toEqual({ path: "/healthz", port: "palisade-stats" });
  });

  it("listens where the ports and probes say, admin on loopback only", () => {
    expect(config.inbound.listen).toBe("0.0.0.0:15006");
    expect(config.stats.listen).toBe("0.0.0.0:15020");
    expect(config.outbound.listen).toBe("127.0.0.1:15001");
    expect(config.admin.listen).toBe("127.0.0.1:15000");
    expect(lintListeners(config).filter((f) => f.level === "error")).toEqual([]);
  });

  it("runs unprivileged on a read-only root", () => {
    expect(sidecar.securityContext).toEqual({
      runAsNonRoot: true,
      runAsUser: 10001,
      runAsGroup: 10001,
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ["ALL"] },
      seccompProfile: { type: "RuntimeDefault" },
    });
    expect(sidecar.resources.requests).toMatchObject({ cpu: "100m", memory: "160Mi" });
    expect(sidecar.resources.limits["memory"]).toBe("384Mi");
  });

  it("mounts the config and one Secret directory per configured tenant, which cert-manager fills", () => {
    expect(sidecar.volumeMounts).toContainEqual({
      name: "palisade-config",
      mountPath: "/etc/palisade",
      readOnly: true,
    });
    expect(pod.volumes).toContainEqual({
      name: "palisade-config",
      configMap: { name: "palisade-orders" },
    });
    const certificates = new Set(
      all
        .filter((o) => o.kind === "Certificate")
        .map((o) => (o["spec"] as { secretName: string }).secretName),
    );
    for (const [tenant, entry] of Object.entries(config.tenants)) {
      expect([entry.ca, entry.cert, entry.key]).toEqual(
        ["ca.crt", "tls.crt", "tls.key"].map((f) => `tenants/${tenant}/${f}`),
      );
      const volume = `palisade-tenant-${tenant}`;
      expect(sidecar.volumeMounts).toContainEqual({
        name: volume,
        mountPath: `/etc/palisade/tenants/${tenant}`,
        readOnly: true,
      });
      const secret = pod.volumes.find((v) => v.name === volume)?.secret?.secretName;
      expect(secret).toBe(leafSecretName(tenant, config.service));
      expect(certificates.has(secret!)).toBe(true);
    }
    expect(sidecar.volumeMounts).toHaveLength(Object.keys(config.tenants).length + 1);
  });

  it("sends the app's outbound calls through the sidecar", () => {
    for (const app of pod.containers) {
      expect(app.env).toEqual(
        expect.arrayContaining([
          { name: "HTTP_PROXY", value: "http://127.0.0.1:15001" },
          { name: "NO_PROXY", value: "127.0.0.1,localhost" },
        ]),
      );
    }
  });
});

describe("what reaches the pod", () => {
  it("the Service exposes the inbound port only", () => {
    const spec = one("Service", "orders")["spec"] as { ports: { targetPort: string }[] };
    expect(spec.ports.map((p) => p.targetPort)).toEqual(["palisade-in"]);
  });

  it("the NetworkPolicy admits inbound from the mesh and stats from monitoring, nothing else", () => {
    const spec = one("NetworkPolicy")["spec"] as {
      policyTypes: string[];
      ingress: { from: unknown[]; ports: { port: number }[] }[];
    };
    expect(spec.policyTypes).toEqual(["Ingress"]);
    expect(spec.ingress.map((r) => r.ports.map((p) => p.port))).toEqual([[15006], [15020]]);
    expect(JSON.stringify(spec.ingress[1]!.from)).toContain("monitoring");
  });

  it("the PodMonitor scrapes the stats port (never admin)", () => {
    const spec = one("PodMonitor")["spec"] as { podMetricsEndpoints: { port: string }[] };
    expect(spec.podMetricsEndpoints.map((e) => e.port)).toEqual(["palisade-stats"]);
  });
});

describe("palisade certs cert-manager", () => {
  it("prints valid Issuers and Certificates: a CA per tenant, a SPIFFE SVID per pair", () => {
    const out = runCertManager([
      "--tenants=acme,globex",
      "--service=orders",
      "--services=web",
      "--trust-domain=prod.example",
      "--namespace=shop",
    ]);
    expect(out.code).toBe(0);
    const objects = parseManifests(out.stdout);
    for (const object of objects) validateObject(object);
    expect(objects.every((o) => o.metadata.namespace === "shop")).toBe(true);
    const leaves = objects.filter(
      (o) => o.kind === "Certificate" && !(o["spec"] as { isCA?: boolean }).isCA,
    );
    expect(leaves.map((o) => (o["spec"] as { uris: string[] }).uris)).toEqual([
      ["spiffe://prod.example/tenant/acme/sa/web"],
      ["spiffe://prod.example/tenant/acme/sa/orders"],
      ["spiffe://prod.example/tenant/globex/sa/web"],
      ["spiffe://prod.example/tenant/globex/sa/orders"],
    ]);
    for (const leaf of leaves) {
      const spec = leaf["spec"] as Record<string, unknown>;
      expect(spec).toMatchObject({
        usages: [...LEAF_USAGES],
        privateKey: { algorithm: "ECDSA", size: 256, rotationPolicy: "Always" },
      });
      expect(spec["commonName"]).toBeUndefined();
      expect(spec["dnsNames"]).toBeUndefined();
      // Each tenant's leaves come from that tenant's own CA Issuer, never a shared one.
      const tenant = /tenant\/([^/]+)/.exec((spec["uris"] as string[])[0]!)![1];
      expect(spec["issuerRef"]).toMatchObject({ name: `palisade-${tenant}`, kind: "Issuer" });
    }
    const issuers = objects.filter((o) => o.kind === "Issuer").map((o) => o.metadata.name);
    expect(issuers).toEqual(["palisade-selfsigned", "palisade-acme", "palisade-globex"]);
  });

  it.each([
    [[], /--tenants/],
    [["--tenants", "acme"], /--services/],
    [["--tenants", "Acme", "--services", "orders"], /not a tenant id: "Acme"/],
    [["--tenants", "acme", "--services", "or/ders"], /not a service name/],
    [["--tenants", "acme", "--services", "orders", "--trust-domain", "A B"], /trust domain/],
    [["--tenants", "acme", "--services", "orders", "--namespace", "Shop"], /not a namespace/],
    [["--tenants", "acme", "--services", "orders", "--bogus"], /Unknown option '--bogus'/],
  ])("%j exits 2 with a reason", (args, reason) => {
    const out = runCertManager(args);
    expect(out.code).toBe(2);
    expect(out.stdout).toBe("");
    expect(out.stderr).toMatch(reason);
  });
});

function runCertManager(args: string[]): { code: number; stdout: string; stderr: string } {
  let stdout = "";
  let stderr = "";
  const code = certManagerCommand(
    args,
    (t) => (stdout += t),
    (t) => (stderr += t),
  );
  return { code, stdout, stderr };
}
