/** `palisade probe`: attacks a running sidecar; see docs/probe.md. */
import { oneOf, parseFlags, required, UsageError } from "./flags.js";

export async function main(args: string[]): Promise<number> {
  const { values } = parseFlags(args, {
    target: { type: "string" },
    pki: { type: "string" },
    tenant: { type: "string" },
    other: { type: "string" },
    service: { type: "string" },
    "server-name": { type: "string" },
    prefix: { type: "string", default: "/tenants/{tenant}" },
    format: { type: "string", default: "human" },
    "allow-writes": { type: "boolean", default: false },
    timeout: { type: "string", default: "5s" },
    deadline: { type: "string", default: "30s" },
  });
  const tenant = required(values.tenant, "--tenant");
  const other = required(values.other, "--other");
  if (tenant === other) throw new UsageError("--tenant and --other must differ");
  const { runProbe } = await import("../probe/index.js");
  return runProbe({
    target: required(values.target, "--target"),
    pki: required(values.pki, "--pki"),
    tenant,
    other,
    ...(values.service ? { service: values.service } : {}),
    ...(values["server-name"] ? { serverName: values["server-name"] } : {}),
    prefix: values.prefix,
    format: oneOf(values.format, "--format", ["human", "json"] as const),
    allowWrites: values["allow-writes"],
    timeoutMs: await duration(values.timeout, "--timeout"),
    deadlineMs: await duration(values.deadline, "--deadline"),
  });
}

async function duration(text: string, flag: string): Promise<number> {
  const { parseDuration } = await import("../config/units.js");
  const ms = parseDuration(text);
  if (!ms)
    throw new UsageError(
      `${flag} must be a positive duration (500ms, 5s, 1m), not ${JSON.stringify(text)}`,
    );
  return ms;
}
