/**
 * Reads and validates a config file. Errors name the key path and the bad value, so a
 * broken ConfigMap is diagnosed from one log line.
 */
import { readFile } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import { parseDocument } from "yaml";
import type { z } from "zod";
import { redactSecrets } from "./redact.js";
import { configSchema, type Config } from "./schema.js";

export class ConfigError extends Error {
  constructor(
    readonly file: string,
    readonly problems: string[],
  ) {
    super(`${file}: ${problems.join("; ")}`);
  }
}

export interface LoadedConfig {
  file: string;
  /** Relative paths in the config are relative to this directory. */
  baseDir: string;
  config: Config;
  /** The file's text, for `/config` and change detection. */
  text: string;
}

export async function loadConfigFile(file: string): Promise<LoadedConfig> {
  const path = resolve(file);
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    throw new ConfigError(path, [`cannot read: ${(err as Error).message}`]);
  }
  return loadedFromText(path, text);
}

/** `text` as the config file at `path` (absolute): parsed, validated, paths relative to it. */
export function loadedFromText(path: string, text: string): LoadedConfig {
  return { file: path, baseDir: dirname(path), config: parseConfigText(text, path), text };
}

export function parseConfigText(text: string, file: string): Config {
  const doc = parseDocument(text, { uniqueKeys: true, prettyErrors: true, strict: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(
      file,
      doc.errors.map((e) => (e.message.split("\n")[0] ?? e.message).replace(/:$/, "")),
    );
  }
  const result = configSchema.safeParse(doc.toJS({ maxAliasCount: 100 }));
  if (!result.success)
    throw new ConfigError(
      file,
      result.error.issues.map((i) => describeIssue(i, doc.toJS())),
    );
  return result.data;
}

function describeIssue(issue: z.core.$ZodIssue, input: unknown): string {
  const path = issue.path.map(String).join(".") || "(root)";
  if (issue.code === "unrecognized_keys") {
    return issue.keys
      .map((k) => `${path === "(root)" ? k : `${path}.${k}`}: unknown key`)
      .join("; ");
  }
  if (issue.code === "invalid_key")
    return `${path}: invalid key (${issue.issues[0]?.message ?? issue.message})`;
  // The message reaches logs and `check` output: a rejected URL keeps its credentials hidden.
  const value = redactSecrets(valueAt(input, issue.path), String(issue.path.at(-1) ?? ""));
  const got = value === undefined ? "missing" : `got ${JSON.stringify(value)}`;
  return `${path}: ${issue.message} (${got})`;
}

function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let value = input;
  for (const key of path) {
    if (typeof value !== "object" || value === null) return undefined;
    value = (value as Record<PropertyKey, unknown>)[key];
  }
  return value;
}
