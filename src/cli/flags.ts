/**
 * Flag parsing with one failure mode: a `UsageError`, which the CLI prints as one line
 * naming the command and exits 2 for. Node's `parseArgs` is strict: unknown flags, missing
 * values and stray positionals are errors, never ignored.
 */
import { parseArgs, type ParseArgsConfig } from "node:util";
import { isTenantId } from "../tenancy/tenant-id.js";

export class UsageError extends Error {}

type Options = NonNullable<ParseArgsConfig["options"]>;

export function parseFlags<O extends Options>(args: string[], options: O, positionals = 0) {
  let parsed;
  try {
    parsed = parseArgs({ args, options, allowPositionals: positionals > 0, strict: true });
  } catch (err) {
    // Node's messages already name the flag ("Unknown option '--x'", "Option '-c, --config
    // <value>' argument missing"); the code prefix is noise.
    throw new UsageError((err as Error).message.replace(/\. To specify a positional.*$/s, ""));
  }
  if (parsed.positionals.length > positionals) {
    throw new UsageError(`unexpected argument ${JSON.stringify(parsed.positionals[positionals])}`);
  }
  return parsed;
}

export function required(value: string | undefined, flag: string): string {
  if (value === undefined || value === "") throw new UsageError(`${flag} is required`);
  return value;
}

export function oneOf<T extends string>(value: string, flag: string, allowed: readonly T[]): T {
  if (!(allowed as readonly string[]).includes(value)) {
    throw new UsageError(
      `${flag} must be one of ${allowed.join(", ")}, not ${JSON.stringify(value)}`,
    );
  }
  return value as T;
}

export function positiveInteger(
  value: string,
  flag: string,
  max = Number.MAX_SAFE_INTEGER,
): number {
  const n = Number(value);
  if (!/^[0-9]+$/.test(value) || !Number.isSafeInteger(n) || n < 1 || n > max) {
    throw new UsageError(
      `${flag} must be a whole number from 1 to ${max}, not ${JSON.stringify(value)}`,
    );
  }
  return n;
}

/** `a,b,c`: every entry a tenant id (or a service name: same shape), none repeated. */
export function idList(value: string, flag: string): string[] {
  const ids = value.split(",");
  for (const id of ids) {
    if (!isTenantId(id)) throw new UsageError(`${flag}: ${JSON.stringify(id)} is not a DNS label`);
  }
  if (new Set(ids).size !== ids.length) throw new UsageError(`${flag} names an entry twice`);
  return ids;
}
