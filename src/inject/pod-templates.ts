/**
 * Where a document keeps its pods: the pod template of each workload kind, the Pod itself,
 * and every item of a `List`. Kinds that run no pods (Service, ConfigMap, …) have none.
 */
import { isMap, isSeq, type Node, type YAMLMap } from "yaml";

const TEMPLATE_PATHS: Record<string, readonly string[]> = {
  Pod: [],
  Deployment: ["spec", "template"],
  StatefulSet: ["spec", "template"],
  DaemonSet: ["spec", "template"],
  ReplicaSet: ["spec", "template"],
  ReplicationController: ["spec", "template"],
  Job: ["spec", "template"],
  CronJob: ["spec", "jobTemplate", "spec", "template"],
};

export interface PodTemplate {
  /** `Deployment/web`, for messages. */
  name: string;
  /** The workload's `metadata.name`, if it has one. */
  workload: string | undefined;
  /** The map holding `metadata` and `spec` of the pod, or why it cannot be used. */
  template: YAMLMap | string;
}

export function podTemplates(root: Node | null | undefined): PodTemplate[] {
  if (!isMap(root)) return [];
  const kind = root.get("kind");
  if (kind === "List") {
    const items = root.get("items", true);
    return isSeq(items) ? items.items.flatMap((item) => podTemplates(item as Node)) : [];
  }
  if (typeof kind !== "string" || !(kind in TEMPLATE_PATHS)) return [];
  const workloadName = root.getIn(["metadata", "name"]);
  const workload = typeof workloadName === "string" ? workloadName : undefined;
  const name = `${kind}/${workload ?? "(unnamed)"}`;
  let node: unknown = root;
  const path = TEMPLATE_PATHS[kind] ?? [];
  for (const [i, key] of path.entries()) {
    node = isMap(node) ? node.get(key, true) : undefined;
    if (!isMap(node)) {
      return [{ name, workload, template: `${path.slice(0, i + 1).join(".")} is not a mapping` }];
    }
  }
  return [{ name, workload, template: node as YAMLMap }];
}
