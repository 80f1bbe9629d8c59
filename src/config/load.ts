/**
 * Reads and validates a config file. Errors name the key path and, when it is provably
 * harmless, the bad value, so a broken ConfigMap is diagnosed from one log line that never
 * carries a credential (config/redact.ts decides what is shown).
 */
import { dirname, resolve } from "node:path";
import { parseDocument, type Document, type YAMLError } from "yaml";
import type { z } from "zod";
import { describeKey, describePath, describeRejected } from "./redact.js";
import { configSchema, type Config } from "./schema.js";
import { readRegularFile } from "./regular-file.js";

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
    text = await readRegularFile(path);
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
  if (doc.errors.length > 0) throw new ConfigError(file, doc.errors.map(describeYamlError));
  const input = documentValue(doc, file);
  const result = configSchema.safeParse(input);
  if (!result.success)
    throw new ConfigError(
      file,
      result.error.issues.map((i) => describeIssue(i, input)),
    );
  return result.data;
}

/**
 * The document as plain data. An alias to no anchor (an unquoted value that starts with
 * `*`) or too many aliases throw here, naming the alias: a ConfigError without the name.
 */
function documentValue(doc: Document, file: string): unknown {
  try {
    return doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    throw new ConfigError(file, [withoutQuote((err as Error).message)]);
  }
}

function describeIssue(issue: z.core.$ZodIssue, input: unknown): string {
  const path = describePath(issue.path);
  if (issue.code === "unrecognized_keys") {
    return issue.keys
      .map((k) => `${path === "(root)" ? "" : `${path}.`}${describeKey(k)}: unknown key`)
      .join("; ");
  }
  if (issue.code === "invalid_key")
    return `${path}: invalid key (${issue.issues[0]?.message ?? issue.message})`;
  // The message reaches logs and `check` output: only a provably harmless value is echoed,
  // and never one meant as a URL (a URL that did not parse may hold userinfo in any spelling).
  const value = valueAt(input, issue.path);
  const url = issue.code === "invalid_format" && issue.format === "url";
  const collection = issue.code === "invalid_type" && COLLECTIONS.has(issue.expected);
  return `${path}: ${issue.message} (${describeRejected(value, issue.path, { url, collection })})`;
}

const COLLECTIONS = new Set(["record", "object", "array", "map", "set", "tuple"]);

/**
 * The first line of a YAML error without the source it quotes: an unquoted value that
 * starts with `*` or `!` is an alias or a tag to YAML, and its error would repeat it.
 */
function describeYamlError(error: YAMLError): string {
  const first = error.message.split("\n")[0] ?? error.message;
  const what = withoutQuote(first.replace(/ at line \d+, column \d+:?$/, ""));
  const at = error.linePos?.[0];
  return at === undefined ? what : `${what} at line ${at.line}, column ${at.col}`;
}

/** What YAML quotes follows a `: `, or is an escape or a directive: it is dropped. */
function withoutQuote(message: string): string {
  return message
    .replace(/: .*$/s, "")
    .replace(/^(Invalid escape sequence|Unknown directive|Unsupported YAML version) .*$/s, "$1");
}

function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let value = input;
  for (const key of path) {
    if (typeof value !== "object" || value === null) return undefined;
    value = (value as Record<PropertyKey, unknown>)[key];
  }
  return value;
}
