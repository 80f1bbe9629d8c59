import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConfigError } from "./load.js";
import { ConfigUnsettledError, readSettledConfig } from "./settle.js";

const CONFIG =
  "service: orders\ntrustDomain: mesh.local\ntenants:\n  acme: {ca: ca.crt, cert: a.crt, key: a.key}\n";

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "palisade-settle-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("readSettledConfig", () => {
  it("returns the config and the bytes of the files it names once they stop changing", async () => {
    const file = join(dir, "stable.yaml");
    await writeFile(file, CONFIG);
    await writeFile(join(dir, "ca.crt"), "CA");
    const settled = await readSettledConfig(file, { settleMs: 5 });
    expect(settled.loaded.text).toBe(CONFIG);
    expect(await settled.readText(join(dir, "ca.crt"))).toBe("CA");
    // Unreadable files settle too; the error comes from the settled read.
    await expect(settled.readText(join(dir, "a.crt"))).rejects.toThrow(/ENOENT/);
  });

  it("half-written-ca-bundle-is-read-settled: a file that keeps changing is never returned", async () => {
    const file = join(dir, "moving.yaml");
    await writeFile(file, CONFIG);
    let writes = 0;
    const writer = setInterval(() => void writeFile(join(dir, "ca.crt"), `CA ${writes++}`), 2);
    try {
      await expect(readSettledConfig(file, { settleMs: 20, maxRounds: 3 })).rejects.toThrow(
        ConfigUnsettledError,
      );
    } finally {
      clearInterval(writer);
    }
  });

  it("reports a config that does not parse only once it has settled", async () => {
    const file = join(dir, "broken.yaml");
    await writeFile(file, "service: orders\ntenants: [\n");
    await expect(readSettledConfig(file, { settleMs: 5 })).rejects.toThrow(ConfigError);
  });
});
