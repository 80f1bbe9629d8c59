/**
 * `palisade init [DIR]`: the shipped example config, its JSON Schema and a development PKI
 * for the tenants and service it names, so `palisade check -c DIR/palisade.yaml` passes in
 * an installed package as in a checkout.
 */
import { randomBytes } from "node:crypto";
import { access, mkdir, readFile, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { parse } from "yaml";
import { parseFlags, UsageError } from "./flags.js";

// src/cli/ in a checkout, dist/cli/ in the package: the config folder is two levels up.
const SHIPPED = new URL("../../config/", import.meta.url);

interface ExampleIdentity {
  service: string;
  trustDomain: string;
  tenants: Record<string, unknown>;
  projection?: { hashKeyFile?: string };
}

export async function main(args: string[]): Promise<number> {
  const { values, positionals } = parseFlags(
    args,
    { force: { type: "boolean", default: false } },
    1,
  );
  const dir = positionals[0] ?? "palisade";
  const configFile = join(dir, "palisade.yaml");
  if (!values.force && (await exists(configFile))) {
    throw new UsageError(`${configFile} exists; --force overwrites it`);
  }
  const [example, schema] = await Promise.all([
    readFile(new URL("example/palisade.yaml", SHIPPED), "utf8"),
    readFile(new URL("palisade.schema.json", SHIPPED), "utf8"),
  ]);
  const identity = parse(example) as ExampleIdentity;
  await mkdir(dir, { recursive: true });
  await writeFile(
    configFile,
    example.replace("$schema=../palisade.schema.json", "$schema=palisade.schema.json"),
  );
  await writeFile(join(dir, "palisade.schema.json"), schema);
  const { initDevPki } = await import("../tls/dev-pki.js");
  await initDevPki({
    out: join(dir, "pki"),
    trustDomain: identity.trustDomain,
    tenants: Object.keys(identity.tenants),
    services: [identity.service],
  });
  const hashKeyFile = identity.projection?.hashKeyFile;
  if (hashKeyFile !== undefined) {
    // A fresh key, never the checkout's placeholder: hash masks are only as good as it.
    const key = join(dir, hashKeyFile);
    await mkdir(dirname(key), { recursive: true });
    await writeFile(key, randomBytes(32).toString("base64url"), { mode: 0o600 });
  }
  await writeFile(
    join(dir, "pki", "README"),
    "Development-only certificates and keys made by `palisade init`; never use them outside tests and demos.\n",
  );
  process.stdout.write(
    `wrote ${configFile}, its JSON Schema and a development PKI (${join(dir, "pki")})\n` +
      `next: palisade check -c ${configFile} && palisade run -c ${configFile}\n`,
  );
  return 0;
}

function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}
