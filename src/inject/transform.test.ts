/**
 * `palisade inject` / `uninject` on manifests shaped like real ones: every output is valid
 * against the Kubernetes schemas, inject is idempotent byte for byte, uninject gives the
 * input back byte for byte, and what cannot be injected is left alone with a warning.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parseAllDocuments } from "yaml";
import { describe, expect, it } from "vitest";
import { validateObject, type KubeObject as Manifest } from "../../test/support/kube-validate.js";
import { optionProblems, type InjectOptions } from "./sidecar.js";
import { transform, UnusableInput } from "./transform.js";

const FIXTURES = join(import.meta.dirname, "fixtures");
const fixture = (name: string) => readFileSync(join(FIXTURES, name), "utf8");
const NAMES = readdirSync(FIXTURES).filter((n) => n.endsWith(".yaml"));
const OPTIONS: InjectOptions = {
  image: "ghcr.io/palisade-mesh/palisade:0.1.0",
  configMap: "palisade-config",
  tenants: ["acme", "globex"],
};

const inject = (text: string, options = OPTIONS) => transform(text, options).output;
const uninject = (text: string) => transform(text).output;
interface Container {
  name: string;
  env?: Array<{ name: string; value?: string }>;
  [field: string]: unknown;
}
interface PodTemplate {
  metadata?: { annotations?: Record<string, string> };
  spec: { containers: Container[]; initContainers: Container[]; volumes: Array<{ name: string }> };
}
interface KubeObject {
  kind: string;
  items?: KubeObject[];
  spec?: { template?: PodTemplate; jobTemplate?: { spec: { template: PodTemplate } } };
}

const objects = (text: string) => parseAllDocuments(text).map((d) => d.toJS() as KubeObject);

/** Every pod template in an object (a Pod is its own). */
function pods(object: KubeObject): PodTemplate[] {
  if (object.kind === "List") return (object.items ?? []).flatMap(pods);
  if (object.kind === "Pod") return [object as unknown as PodTemplate];
  const template = object.spec?.jobTemplate?.spec.template ?? object.spec?.template;
  return template ? [template] : [];
}

describe.each(NAMES)("%s", (name) => {
  const input = fixture(name);
  const once = inject(input);

  it("injects into objects that stay valid against the Kubernetes schemas", () => {
    const validate = (object: Manifest): void => {
      // v1 List has no model of its own: each item is checked.
      if (object.kind === "List") (object.items as Manifest[]).forEach(validate);
      else validateObject(object);
    };
    for (const object of objects(once)) validate(object as unknown as Manifest);
  });

  it("is idempotent: inject twice equals inject once, byte for byte", () => {
    expect(inject(once)).toBe(once);
  });

  it("is reversed exactly: uninject(inject(x)) equals x, byte for byte", () => {
    expect(uninject(once)).toBe(input);
  });

  it("leaves a manifest that was never injected as it is", () => {
    expect(uninject(input)).toBe(input);
  });
});

describe("what inject adds", () => {
  const injected = objects(inject(fixture("statefulset.yaml")))[0]!;
  const pod = pods(injected)[0]!;

  it("puts the native sidecar first, before the init containers that need the network", () => {
    expect(pod.spec.initContainers.map((c) => c.name)).toEqual(["palisade", "migrate"]);
    const sidecar = pod.spec.initContainers[0];
    expect(sidecar).toMatchObject({
      image: OPTIONS.image,
      restartPolicy: "Always",
      ports: [
        { name: "palisade-in", containerPort: 15006 },
        { name: "palisade-stats", containerPort: 15020 },
      ],
      startupProbe: { httpGet: { path: "/readyz", port: "palisade-stats" } },
      readinessProbe: { httpGet: { path: "/readyz", port: "palisade-stats" } },
      livenessProbe: { httpGet: { path: "/healthz", port: "palisade-stats" } },
      securityContext: {
        runAsNonRoot: true,
        runAsUser: 10001,
        allowPrivilegeEscalation: false,
        readOnlyRootFilesystem: true,
        capabilities: { drop: ["ALL"] },
      },
    });
    expect(sidecar?.volumeMounts).toEqual([
      { name: "palisade-config", mountPath: "/etc/palisade", readOnly: true },
      { name: "palisade-tenant-acme", mountPath: "/etc/palisade/tenants/acme", readOnly: true },
      { name: "palisade-tenant-globex", mountPath: "/etc/palisade/tenants/globex", readOnly: true },
    ]);
  });

  it("mounts the ConfigMap and one Secret per tenant as directories, after the pod's own volumes", () => {
    expect(pod.spec.volumes).toEqual([
      { name: "scratch", emptyDir: {} },
      { name: "palisade-config", configMap: { name: "palisade-config" } },
      // The Secrets `palisade certs cert-manager` writes: per tenant and service (the workload's name).
      { name: "palisade-tenant-acme", secret: { secretName: "palisade-acme-ledger" } },
      { name: "palisade-tenant-globex", secret: { secretName: "palisade-globex-ledger" } },
    ]);
  });

  it("points every app container at the outbound listener, merging an existing NO_PROXY", () => {
    const env = (name: string) => pod.spec.containers.find((c) => c.name === name)?.env;
    expect(env("ledger")).toEqual([
      { name: "LOG_LEVEL", value: "info" },
      { name: "NO_PROXY", value: "metadata.google.internal,10.0.0.0/8,127.0.0.1,localhost" },
      { name: "HTTP_PROXY", value: "http://127.0.0.1:15001" },
    ]);
    expect(env("exporter")).toEqual([
      { name: "NO_PROXY", value: ",127.0.0.1,localhost" },
      { name: "HTTP_PROXY", value: "http://127.0.0.1:15001" },
    ]);
    // Init containers run before the app; only the app's containers are pointed at the proxy.
    expect(pod.spec.initContainers[1]?.env).toBeUndefined();
  });

  it("marks the pod template, keeping its other annotations", () => {
    expect(pod.metadata?.annotations).toEqual({
      "prometheus.io/scrape": "false",
      "palisade.dev/injected": "true",
    });
  });

  it("injects every kind that runs pods: CronJob, Job, Pod, DaemonSet, List items", () => {
    for (const file of ["batch.yaml", "list.yaml"]) {
      const all = objects(inject(fixture(file))).flatMap(pods);
      expect(all.length).toBeGreaterThan(0);
      for (const p of all) {
        expect(p.metadata?.annotations?.["palisade.dev/injected"]).toBe("true");
        expect(p.spec.initContainers[0]?.name).toBe("palisade");
      }
    }
  });

  it("keeps comments, quoting and the input's sequence style", () => {
    const out = inject(fixture("deployment.yaml"));
    expect(out).toContain("- name: web # the app itself\n");
    expect(out).toContain('image: "registry.example/web:1.4.2"');
    expect(out).toContain("metadata:   {name: web, namespace: shop}"); // the Service, verbatim
    const kubectl = inject(fixture("kubectl-style.yaml"));
    expect(kubectl).toContain("      containers:\n      - env:\n");
    expect(kubectl).toContain("      initContainers:\n      - name: palisade\n");
  });
});

describe("input the printer would not write byte for byte", () => {
  const messy = fixture("deployment.yaml")
    .replace("- name: web # the app itself", "- name: web     # the app itself")
    .replace(/\n/g, "\r\n");

  it("round-trips to the same objects, keeping CRLF line ends and the untouched documents", () => {
    const injected = inject(messy);
    expect(injected.replace(/\r\n/g, "")).not.toContain("\n");
    expect(inject(injected)).toBe(injected);
    const back = uninject(injected);
    expect(objects(back)).toEqual(objects(messy));
    // Only the workload went through the printer (its comment spacing is normalised).
    expect(back).toBe(messy.replace("web     # the", "web # the"));
  });
});

describe("a pod without metadata", () => {
  const text = "apiVersion: v1\nkind: Pod\nspec:\n  containers:\n    - name: a\n      image: b\n";

  it("needs --service to name its certificate Secrets", () => {
    expect(transform(text, OPTIONS).warnings).toEqual([
      expect.stringMatching(/^document 1, Pod\/\(unnamed\): has no name .* give --service; left/),
    ]);
  });

  it("gets metadata before its spec, and loses it again on uninject", () => {
    const injected = inject(text, { ...OPTIONS, service: "orders" });
    expect(injected).toContain("secretName: palisade-acme-orders\n");
    expect(injected).toMatch(/^apiVersion: v1\nkind: Pod\nmetadata:\n {2}annotations:\n/);
    expect(uninject(injected)).toBe(text);
  });
});

describe("injecting again", () => {
  it("with other flags replaces the sidecar instead of adding a second", () => {
    const input = fixture("deployment.yaml");
    const other: InjectOptions = {
      image: "registry.example/palisade:dev",
      configMap: "cfg",
      tenants: ["initech"],
    };
    expect(inject(inject(input), other)).toBe(inject(input, other));
    const pod = pods(objects(inject(inject(input), other))[0]!)[0]!;
    expect(pod.spec.initContainers).toHaveLength(1);
    expect(pod.spec.volumes.map((v) => v.name)).toEqual([
      "palisade-config",
      "palisade-tenant-initech",
    ]);
    expect(pod.spec.containers[0]?.env).toHaveLength(2);
  });
});

describe("pods the sidecar cannot join", () => {
  const input = fixture("refused.yaml");
  const result = transform(input, OPTIONS);

  it("are left byte for byte, each with a warning that names it and says why", () => {
    expect(result.output).toBe(input);
    expect(result.warnings).toEqual([
      expect.stringMatching(/^document 1, Pod\/node-exporter: uses hostNetwork/),
      expect.stringMatching(/^document 2, Pod\/istio-meshed: runs istio-proxy/),
      expect.stringMatching(/^document 3, Pod\/port-clash: container app listens on 15020/),
      expect.stringMatching(/^document 4, Pod\/own-proxy: container app already sets HTTP_PROXY/),
      expect.stringMatching(/^document 5, Pod\/no-proxy-from-config: .*NO_PROXY from a reference/),
      expect.stringMatching(
        /^document 6, Pod\/name-clash: already has a volume named palisade-config/,
      ),
    ]);
  });

  it("a workload without a pod template is named, not guessed at", () => {
    const text =
      "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: d\nspec:\n  template: []\n";
    expect(transform(text, OPTIONS)).toEqual({
      output: text,
      warnings: ["document 1, Deployment/d: spec.template is not a mapping; left unchanged"],
    });
  });

  it("a pod that shares nodes through anchors is left, so the sidecar cannot leak into another", () => {
    const text = [
      "apiVersion: v1\nkind: List\nitems:",
      "  - apiVersion: v1\n    kind: Pod\n    metadata: {name: a}",
      "    spec:\n      containers:\n        - name: app\n          image: x\n          env: &env\n            - {name: A, value: b}",
      "  - apiVersion: v1\n    kind: Pod\n    metadata: {name: b}",
      "    spec:\n      containers:\n        - name: app\n          image: x\n          env: *env\n",
    ].join("\n");
    expect(transform(text, OPTIONS)).toEqual({
      output: text,
      warnings: [
        "document 1, Pod/a: uses YAML anchors or aliases; left unchanged",
        "document 1, Pod/b: uses YAML anchors or aliases; left unchanged",
      ],
    });
  });

  it.each(["", " 5", " null"])("a NO_PROXY that is not a string (value:%s) is left", (value) => {
    const text = `kind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n    - name: app\n      env:\n        - name: NO_PROXY\n          value:${value}\n`;
    expect(transform(text, OPTIONS).warnings).toEqual([
      "document 1, Pod/p: container app sets NO_PROXY to a non-string; left unchanged",
    ]);
  });

  it("a container named palisade without the annotation is not taken for an injected one", () => {
    const text =
      "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  containers:\n    - name: palisade\n      image: x\n";
    expect(transform(text, OPTIONS)).toEqual({
      output: text,
      warnings: ["document 1, Pod/p: already has a container named palisade; left unchanged"],
    });
    expect(uninject(text)).toBe(text);
  });
});

describe("unusable input", () => {
  it.each([
    ["unparsable YAML", "kind: Deployment\nspec: [unclosed\n"],
    ["a duplicate key", "kind: Pod\nkind: Deployment\n"],
    ["a Helm template", "{{- if .Values.enabled }}\nkind: Pod\n{{- end }}\n"],
    ["tab indentation", "kind: Pod\nspec:\n\tcontainers: []\n"],
    ["an alias to nothing", "kind: Pod\nspec: *missing\n"],
    ["an alias bomb", `a: &a [x, x, x, x, x, x, x, x, x, x]\n${bomb()}`],
  ])("refuses %s", (_, text) => {
    expect(() => transform(text, OPTIONS)).toThrow(UnusableInput);
  });

  it("passes an empty stream or comments alone through", () => {
    expect(inject("")).toBe("");
    expect(inject("# nothing yet\n")).toBe("# nothing yet\n");
  });
});

describe("flags", () => {
  it.each([
    [{ tenants: [] }, "--tenants names no tenant"],
    [{ tenants: ["Acme"] }, '"Acme" is not a tenant id'],
    [{ tenants: ["acme", "acme"] }, "names a tenant twice"],
    // palisade-tenant-<tenant> is a volume name: a DNS label of at most 63 characters.
    [{ tenants: ["a".repeat(48)] }, "too long for the volume name"],
    [{ configMap: "Palisade_Config" }, "is not a Kubernetes object name"],
    [{ image: "" }, "is not an image reference"],
    [{ image: "evil image" }, "is not an image reference"],
  ])("refuses %j", (change, problem) => {
    expect(optionProblems({ ...OPTIONS, ...change }).join("; ")).toContain(problem);
  });

  it("accepts the longest tenant id a volume name allows", () => {
    expect(optionProblems({ ...OPTIONS, tenants: ["a".repeat(47)] })).toEqual([]);
  });
});

/** Nine levels of ten aliases each: a billion nodes if expanded. */
function bomb(): string {
  let text = "";
  for (let level = 0; level < 9; level++) {
    const prev = String.fromCharCode(97 + level);
    const next = String.fromCharCode(98 + level);
    text += `${next}: &${next} [${Array(10).fill(`*${prev}`).join(", ")}]\n`;
  }
  return text;
}
