/**
 * Adding the sidecar to one pod template, and taking it out again, on the `yaml` package's
 * nodes so that comments, key order and quoting elsewhere in the document survive.
 *
 * `uninjectPod` is the exact inverse of `injectPod`: inject prepends one init container,
 * appends volumes and env entries, and appends one fixed suffix to an existing NO_PROXY;
 * uninject removes exactly those. A collection inject had to create is removed again once
 * it is empty, so `uninject(inject(x))` gives `x` back.
 */
import {
  isAlias,
  isMap,
  isNode,
  isScalar,
  isSeq,
  visit,
  type Document,
  type Node,
  YAMLMap,
  YAMLSeq,
} from "yaml";
import {
  INJECTED_ANNOTATION,
  NO_PROXY_ENTRIES,
  OUTBOUND_PROXY,
  SIDECAR_NAME,
  SIDECAR_PORTS,
  isSidecarVolume,
  sidecarContainer,
  sidecarVolumes,
  type InjectOptions,
} from "./sidecar.js";
import { isServiceName } from "../tenancy/spiffe.js";

const OTHER_MESH_SIDECARS = new Set(["istio-proxy"]);

export function isInjected(template: YAMLMap): boolean {
  return template.getIn(["metadata", "annotations", INJECTED_ANNOTATION]) === "true";
}

/** Adds the sidecar; returns why it cannot (the template is then unchanged). */
export function injectPod(
  doc: Document,
  template: YAMLMap,
  options: InjectOptions,
  workload: string | undefined,
): string | undefined {
  const spec = template.get("spec", true);
  if (!isMap(spec)) return "has no pod spec";
  const refusal = refusalFor(template, spec);
  if (refusal) return refusal;
  const service = options.service ?? workload;
  // Secret names are DNS subdomains of at most 253 characters.
  const longest = Math.max(...options.tenants.map((t) => t.length));
  if (service === undefined || !isServiceName(service) || service.length + longest > 243) {
    return "has no name that can name its certificate Secrets (palisade-<tenant>-<service>): give --service";
  }

  // Where a person would write them: metadata before spec, init containers before containers.
  const metadata = ensure(doc, template, "metadata", "map", indexOfKey(template, "spec"));
  ensure(doc, metadata, "annotations", "map").set(INJECTED_ANNOTATION, "true");
  const initContainers = ensure(doc, spec, "initContainers", "seq", indexOfKey(spec, "containers"));
  initContainers.items.unshift(doc.createNode(sidecarContainer(options)));
  ensure(doc, spec, "volumes", "seq").items.push(
    ...sidecarVolumes(options, service).map((v) => doc.createNode(v)),
  );
  for (const container of mapsIn(spec.get("containers", true))) {
    const env = ensure(doc, container, "env", "seq");
    const noProxy = envEntry(env, "NO_PROXY");
    const value = noProxy?.get("value", true);
    if (isScalar(value)) value.value = `${String(value.value)},${NO_PROXY_ENTRIES}`;
    env.items.push(doc.createNode({ name: "HTTP_PROXY", value: OUTBOUND_PROXY }));
    if (!noProxy) env.items.push(doc.createNode({ name: "NO_PROXY", value: NO_PROXY_ENTRIES }));
  }
  return undefined;
}

export function uninjectPod(template: YAMLMap): void {
  const metadata = template.get("metadata", true);
  const annotations = isMap(metadata) ? metadata.get("annotations", true) : undefined;
  if (isMap(annotations)) annotations.delete(INJECTED_ANNOTATION);
  dropIfEmpty(metadata, "annotations");
  dropIfEmpty(template, "metadata");
  const spec = template.get("spec", true);
  if (!isMap(spec)) return;
  removeItems(spec, "initContainers", (c) => c.get("name") === SIDECAR_NAME);
  removeItems(spec, "volumes", (v) => isSidecarVolume(v.get("name")));
  for (const container of mapsIn(spec.get("containers", true))) {
    const env = container.get("env", true);
    const noProxy = envEntry(env, "NO_PROXY");
    const value = noProxy?.get("value", true);
    const text = isScalar(value) ? String(value.value) : undefined;
    // Inject appended the suffix to a NO_PROXY of the app's, or wrote the whole entry.
    const added = text === NO_PROXY_ENTRIES ? noProxy : undefined;
    if (isScalar(value) && text?.endsWith(`,${NO_PROXY_ENTRIES}`)) {
      value.value = text.slice(0, -NO_PROXY_ENTRIES.length - 1);
    }
    removeItems(container, "env", (e) => e === added || e.get("name") === "HTTP_PROXY");
  }
}

/** Why this (not yet injected) pod must be left alone, if it must. */
function refusalFor(template: YAMLMap, spec: YAMLMap): string | undefined {
  // A shared node would carry the sidecar into whatever else refers to it.
  if (usesAnchors(template)) return "uses YAML anchors or aliases";
  if (spec.get("hostNetwork") === true) {
    return "uses hostNetwork: the sidecar's ports would be the node's";
  }
  for (const key of ["metadata", "metadata.annotations"]) {
    const node = template.getIn(key.split("."), true);
    if (node !== undefined && !isMap(node)) return `${key} is not a mapping`;
  }
  for (const key of ["initContainers", "volumes", "containers"]) {
    const node = spec.get(key, true);
    if (node !== undefined && !isSeq(node)) return `spec.${key} is not a sequence`;
  }
  const containers = mapsIn(spec.get("containers", true));
  if (containers.length === 0) return "has no containers";
  for (const container of [...containers, ...mapsIn(spec.get("initContainers", true))]) {
    const name = container.get("name");
    if (name === SIDECAR_NAME) return `already has a container named ${SIDECAR_NAME}`;
    if (OTHER_MESH_SIDECARS.has(String(name))) {
      return `runs ${String(name)}, whose ports are the sidecar's (15000, 15001, 15006, 15020)`;
    }
  }
  if (mapsIn(spec.get("volumes", true)).some((v) => isSidecarVolume(v.get("name")))) {
    return "already has a volume named palisade-config or palisade-tenant-*";
  }
  for (const container of containers) {
    const refusal = containerRefusal(container);
    if (refusal) return `container ${String(container.get("name"))} ${refusal}`;
  }
  return undefined;
}

function containerRefusal(container: YAMLMap): string | undefined {
  for (const port of mapsIn(container.get("ports", true))) {
    const number = Number(port.get("containerPort"));
    if ((SIDECAR_PORTS as readonly number[]).includes(number))
      return `listens on ${number}, a sidecar port`;
  }
  const env = container.get("env", true);
  if (env !== undefined && !isSeq(env)) return "has an env that is not a sequence";
  if (envEntry(env, "HTTP_PROXY")) return "already sets HTTP_PROXY";
  const noProxy = envEntry(env, "NO_PROXY");
  const value = noProxy?.get("value", true);
  if (noProxy && !isScalar(value)) return "sets NO_PROXY from a reference, not a value";
  // A number or null would come back from the merge as a string: not reversible.
  if (isScalar(value) && typeof value.value !== "string") return "sets NO_PROXY to a non-string";
  return undefined;
}

function usesAnchors(template: YAMLMap): boolean {
  let found = false;
  visit(template, (_, node) => {
    if (isAlias(node) || (isNode(node) && node.anchor)) {
      found = true;
      return visit.BREAK;
    }
    return undefined;
  });
  return found;
}

function mapsIn(node: unknown): YAMLMap[] {
  return isSeq(node) ? node.items.filter((item): item is YAMLMap => isMap(item)) : [];
}

function envEntry(env: unknown, name: string): YAMLMap | undefined {
  return mapsIn(env).find((entry) => entry.get("name") === name);
}

/** The collection at `key`, created (empty, at index `at`, else last) when absent. */
function ensure(doc: Document, map: YAMLMap, key: string, type: "map", at?: number): YAMLMap;
function ensure(doc: Document, map: YAMLMap, key: string, type: "seq", at?: number): YAMLSeq;
function ensure(doc: Document, map: YAMLMap, key: string, type: "map" | "seq", at = -1): Node {
  const found = map.get(key, true);
  if (found !== undefined) return found as Node;
  const node = type === "map" ? new YAMLMap(doc.schema) : new YAMLSeq(doc.schema);
  map.items.splice(at < 0 ? map.items.length : at, 0, doc.createPair(key, node));
  return node;
}

function indexOfKey(map: YAMLMap, key: string): number {
  return map.items.findIndex((pair) => (isScalar(pair.key) ? pair.key.value : pair.key) === key);
}

function removeItems(map: YAMLMap, key: string, remove: (item: YAMLMap) => boolean): void {
  const seq = map.get(key, true);
  if (!isSeq(seq)) return;
  seq.items = seq.items.filter((item) => !(isMap(item) && remove(item)));
  dropIfEmpty(map, key);
}

function dropIfEmpty(map: unknown, key: string): void {
  if (!isMap(map)) return;
  const node = map.get(key, true);
  if ((isMap(node) || isSeq(node)) && node.items.length === 0) map.delete(key);
}
