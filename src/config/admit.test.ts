import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { baseConfig, makePki, type Pki } from "../../test/support/mesh.js";
import { admitConfig, ConfigRefusedError } from "./admit.js";
import { loadConfigFile } from "./load.js";

let pki: Pki;
let dir: string;

beforeAll(async () => {
  pki = await makePki(["acme", "globex"], ["orders"]);
  dir = await mkdtemp(join(tmpdir(), "palisade-admit-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
  await rm(pki.dir, { recursive: true, force: true });
});

async function load() {
  const file = join(dir, "palisade.yaml");
  await writeFile(file, stringify(baseConfig(pki, "orders", ["acme", "globex"], "http://a:1")));
  return loadConfigFile(file);
}

/** Serves `served` for one path and the disk for every other; counts every read. */
function reader(path: string, served: string) {
  const reads = new Map<string, number>();
  const readText = async (p: string) => {
    reads.set(p, (reads.get(p) ?? 0) + 1);
    return p === path ? served : readFile(p, "utf8");
  };
  return { readText, reads };
}

describe("admitConfig: each tenant file is read and parsed once", () => {
  it("builds the generation from the bytes lint judged, not from a second read of the disk", async () => {
    const loaded = await load();
    const certFile = join(pki.dir, "acme", "orders.crt");
    const good = await readFile(certFile, "utf8");
    // The disk now holds garbage; lint is handed the good certificate (as a reload is
    // handed settled bytes). A loader that read the file again would refuse the config.
    await writeFile(certFile, "not a certificate\n");
    try {
      const { readText, reads } = reader(certFile, good);
      const { generation } = await admitConfig(loaded, { id: 1, now: new Date(), readText });
      expect(generation.tenants.get("acme")?.certPem).toBe(good);
      expect(generation.tenants.get("acme")?.spiffeId).toBe(
        "spiffe://mesh.local/tenant/acme/sa/orders",
      );
      expect([...reads.values()].every((n) => n === 1)).toBe(true);
      expect(reads.size).toBe(6);
    } finally {
      await writeFile(certFile, good);
    }
  });

  it("still refuses at load a certificate that does not belong to its tenant", async () => {
    const loaded = await load();
    const acmeCert = join(pki.dir, "acme", "orders.crt");
    const globexCert = await readFile(join(pki.dir, "globex", "orders.crt"), "utf8");
    const { readText } = reader(acmeCert, globexCert);
    const admitted = admitConfig(loaded, { id: 1, now: new Date(), readText });
    await expect(admitted).rejects.toBeInstanceOf(ConfigRefusedError);
    await expect(admitted).rejects.toThrow(/tenants\.acme\.cert/);
  });

  it("refuses a key that is not the certificate's, read once like the rest", async () => {
    const loaded = await load();
    const acmeKey = join(pki.dir, "acme", "orders.key");
    const globexKey = await readFile(join(pki.dir, "globex", "orders.key"), "utf8");
    const { readText } = reader(acmeKey, globexKey);
    await expect(admitConfig(loaded, { id: 1, now: new Date(), readText })).rejects.toThrow(
      /cert_key_mismatch \(tenants\.acme\.key\)/,
    );
  });
});
