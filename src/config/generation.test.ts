import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { baseConfig, makePki, type Pki } from "../../test/support/mesh.js";
import {
  buildGeneration,
  DEFAULT_CA_HINTS,
  defaultCredentials,
  GenerationError,
  referencedFiles,
  type TenantRuntime,
} from "./generation.js";
import { loadConfigFile } from "./load.js";

let pki: Pki;
let dir: string;

beforeAll(async () => {
  pki = await makePki(["acme"], ["orders"]);
  dir = await mkdtemp(join(tmpdir(), "palisade-generation-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
  await rm(pki.dir, { recursive: true, force: true });
});

async function load(extra: Record<string, unknown>, name = "palisade.yaml") {
  const config = { ...baseConfig(pki, "orders", ["acme"], "http://127.0.0.1:8080"), ...extra };
  await writeFile(join(dir, name), stringify(config));
  return loadConfigFile(join(dir, name));
}

describe("generation: residency", () => {
  it("compiles endpoints in config order; a bare url is one endpoint without a region", async () => {
    const loaded = await load({
      region: "eu",
      outbound: {
        upstreams: {
          billing: {
            endpoints: [
              { url: "https://billing-us:15006/base/", region: "us" },
              { url: "http://billing-eu:8080", region: "eu" },
            ],
          },
          ledger: { url: "https://ledger:15006" },
        },
      },
    });
    const g = await buildGeneration(loaded, 1, new Date(), {});
    expect(g.region).toBe("eu");
    const billing = g.upstreams.get("billing");
    expect(billing?.endpoints).toEqual([
      {
        origin: "https://billing-us:15006",
        basePath: "/base",
        authority: "billing-us:15006",
        tls: true,
        region: "us",
      },
      {
        origin: "http://billing-eu:8080",
        basePath: "",
        authority: "billing-eu:8080",
        tls: false,
        region: "eu",
      },
    ]);
    // Until the request path chooses among endpoints, the upstream reads as its first.
    expect(billing?.origin).toBe("https://billing-us:15006");
    expect(g.upstreams.get("ledger")?.endpoints.map((e) => e.region)).toEqual([undefined]);
  });

  it("takes the region from PALISADE_REGION when the config has none, and refuses a bad one", async () => {
    const loaded = await load({});
    expect((await buildGeneration(loaded, 1, new Date(), { PALISADE_REGION: "us" })).region).toBe(
      "us",
    );
    expect((await buildGeneration(loaded, 1, new Date(), {})).region).toBeUndefined();
    await expect(
      buildGeneration(loaded, 1, new Date(), { PALISADE_REGION: "US East" }),
    ).rejects.toThrow(GenerationError);
  });

  it("keeps a tenant's regions", async () => {
    const config = baseConfig(pki, "orders", ["acme"], "http://127.0.0.1:8080");
    const tenants = config["tenants"] as Record<string, Record<string, unknown>>;
    (tenants["acme"] as Record<string, unknown>)["regions"] = ["eu", "ch"];
    const g = await buildGeneration(await load({ tenants }), 1, new Date(), {});
    expect(g.tenants.get("acme")?.regions).toEqual(["eu", "ch"]);
  });
});

describe("generation: hash key", () => {
  it("reads the key relative to the config file, watches it, and digests it", async () => {
    await writeFile(join(dir, "hash.key"), "k".repeat(32));
    const loaded = await load({ projection: { hashKeyFile: "hash.key" } });
    const first = await buildGeneration(loaded, 1, new Date(), {});
    expect(first.hashKey?.toString()).toBe("k".repeat(32));
    expect(referencedFiles(loaded)).toContain(join(dir, "hash.key"));
    await writeFile(join(dir, "hash.key"), "j".repeat(32));
    const second = await buildGeneration(loaded, 2, new Date(), {});
    // A rotated key under an unchanged config is a change: the reload must not be skipped.
    expect(second.digest).not.toBe(first.digest);
  });

  it("refuses a missing or short key file, naming projection.hashKeyFile", async () => {
    const missing = await load({ projection: { hashKeyFile: "absent.key" } });
    await expect(buildGeneration(missing, 1, new Date(), {})).rejects.toMatchObject({
      keyPath: "projection.hashKeyFile",
    });
    await writeFile(join(dir, "short.key"), "short");
    const short = await load({ projection: { hashKeyFile: "short.key" } });
    await expect(buildGeneration(short, 1, new Date(), {})).rejects.toThrow(/fewer than 16 bytes/);
  });
});

describe("generation: credentials for clients without SNI", () => {
  const runtime = (name: string) =>
    ({ caPem: `ca-${name}`, certPem: `cert-${name}`, keyPem: `key-${name}` }) as TenantRuntime;
  const names = Array.from({ length: 250 }, (_, i) => `t-${String(i).padStart(3, "0")}`);
  const tenants = new Map(names.map((n) => [n, runtime(n)]));

  it("serve the first active tenant and name at most DEFAULT_CA_HINTS CAs, in tenant order", () => {
    const active = new Set([...names].reverse());
    const credentials = defaultCredentials(tenants, active);
    expect(credentials?.cert).toBe("cert-t-000");
    expect(credentials?.key).toBe("key-t-000");
    expect(credentials?.ca).toEqual(names.slice(0, DEFAULT_CA_HINTS).map((n) => `ca-${n}`));
  });

  it("name only active tenants, and nothing when none is active", () => {
    const credentials = defaultCredentials(tenants, new Set(["t-007", "t-003"]));
    expect(credentials?.ca).toEqual(["ca-t-003", "ca-t-007"]);
    expect(defaultCredentials(tenants, new Set())).toBeUndefined();
  });
});
