/**
 * `palisade inject` and the hand-written example in deploy/kubernetes/ describe one pod:
 * uninject takes the example's sidecar out, and inject with the example's flags puts back
 * the same container, the same volumes and the same proxy environment. A change to either
 * that the other does not follow fails here.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { expect, it } from "vitest";
import { transform } from "../src/inject/transform.js";
import { packageVersion } from "../src/version.js";
import { parseManifests, validateObject } from "./support/kube-validate.js";

const EXAMPLE = readFileSync(
  join(import.meta.dirname, "..", "deploy", "kubernetes", "deployment.yaml"),
  "utf8",
);

interface PodSpec {
  initContainers?: Array<{ name: string }>;
  containers: Array<{ name: string; env?: unknown[] }>;
  volumes?: Array<{ name: string; secret?: Record<string, unknown> }>;
}
const podSpec = (text: string) =>
  (parseManifests(text)[0] as unknown as { spec: { template: { spec: PodSpec } } }).spec.template
    .spec;
/** deploy/ adds a pod-wide fsGroup and Secret mode 0440; inject leaves both to the user. */
const withoutModes = (volumes: PodSpec["volumes"]) =>
  volumes?.map((v) => (v.secret ? { ...v, secret: { secretName: v.secret.secretName } } : v));

it("uninject takes the example's sidecar out; inject with its flags puts the same one back", () => {
  const bare = transform(EXAMPLE).output;
  expect(podSpec(bare)).toMatchObject({ containers: [{ name: "orders" }] });
  expect(podSpec(bare).initContainers).toBeUndefined();
  expect(podSpec(bare).volumes).toBeUndefined();
  expect(podSpec(bare).containers[0]?.env).toBeUndefined();

  const injected = transform(bare, {
    image: `ghcr.io/palisade-mesh/palisade:${packageVersion()}`,
    configMap: "palisade-orders",
    tenants: ["acme", "globex"],
  });
  expect(injected.warnings).toEqual([]);
  for (const object of parseManifests(injected.output)) validateObject(object);
  const [ours, theirs] = [podSpec(injected.output), podSpec(EXAMPLE)];
  expect(ours.initContainers).toEqual(theirs.initContainers);
  expect(ours.containers).toEqual(theirs.containers);
  expect(withoutModes(ours.volumes)).toEqual(withoutModes(theirs.volumes));
});
