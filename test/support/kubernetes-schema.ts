/**
 * Validates Kubernetes objects against the API's OpenAPI schemas (the `kubernetes-models`
 * validators). A kind this table does not know is an error, so a test cannot pass by
 * validating nothing.
 */
import { ConfigMap, Pod, Secret, Service } from "kubernetes-models/v1";
import { DaemonSet, Deployment, ReplicaSet, StatefulSet } from "kubernetes-models/apps/v1";
import { CronJob, Job } from "kubernetes-models/batch/v1";

interface Model {
  validate(): void;
}

const MODELS: Record<string, new (data: never) => Model> = {
  "v1/ConfigMap": ConfigMap,
  "v1/Pod": Pod,
  "v1/Secret": Secret,
  "v1/Service": Service,
  "apps/v1/DaemonSet": DaemonSet,
  "apps/v1/Deployment": Deployment,
  "apps/v1/ReplicaSet": ReplicaSet,
  "apps/v1/StatefulSet": StatefulSet,
  "batch/v1/CronJob": CronJob,
  "batch/v1/Job": Job,
};

/** Throws naming the object and the first schema violation; a `List` is checked item by item. */
export function validateObject(object: unknown): void {
  const { apiVersion, kind, items } = object as {
    apiVersion?: string;
    kind?: string;
    items?: unknown;
  };
  if (apiVersion === "v1" && kind === "List") {
    if (!Array.isArray(items)) throw new Error("List without items");
    items.forEach(validateObject);
    return;
  }
  const Model = MODELS[`${apiVersion}/${kind}`];
  if (!Model) throw new Error(`no schema here for ${apiVersion}/${kind}`);
  new Model(object as never).validate();
}
