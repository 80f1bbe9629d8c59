/**
 * Development PKIs for the benchmark, made with Palisade's own dev-PKI functions but with
 * ONE RSA key reused for every CA and leaf: key generation is the slow part and the key's
 * uniqueness is irrelevant to throughput or memory. forge still signs every certificate in
 * JavaScript (~60 ms each), so large PKIs are signed on worker threads and cached under
 * node_modules/.cache/palisade-bench between runs.
 *
 * Layout: `DIR/shared.key`, `DIR/<tenant>/ca.crt`, `DIR/<tenant>/<service>.crt`.
 */
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { availableParallelism } from "node:os";
import { join, resolve } from "node:path";
import { Worker } from "node:worker_threads";

export const TRUST_DOMAIN = "mesh.local";
const DAYS = 30;
const ROOT = resolve(import.meta.dirname, "../..");

export function devPki() {
  return import(join(ROOT, "dist/tls/dev-pki.js"));
}

/** Paths of one (tenant, service) in a PKI made here. */
export function pkiPaths(dir, tenant, service) {
  return {
    ca: join(dir, tenant, "ca.crt"),
    cert: join(dir, tenant, `${service}.crt`),
    key: join(dir, "shared.key"),
  };
}

/** Writes a small PKI at `dir` in this thread. */
export async function makePki(dir, tenants, services, keyPem) {
  const { newRsaKey } = await devPki();
  const key = keyPem ?? (await newRsaKey());
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, "shared.key"), key, { mode: 0o600 });
  await signTenants({ dir, tenants, services, keyPem: key, trustDomain: TRUST_DOMAIN, days: DAYS });
  return dir;
}

/**
 * `count` tenants named tenant-0001…, services `services`, cached: a cached PKI is reused
 * while it covers what is asked and stays valid for another day.
 */
export async function cachedPki(count, services, { fresh = false, log = () => {} } = {}) {
  const dir = join(
    ROOT,
    "node_modules/.cache/palisade-bench",
    `pki-${count}-${services.join("-")}`,
  );
  const tenants = tenantNames(count);
  if (!fresh) {
    try {
      const manifest = JSON.parse(await readFile(join(dir, "manifest.json"), "utf8"));
      if (manifest.count === count && Date.parse(manifest.notAfter) > Date.now() + 86_400_000) {
        log(`reusing the cached ${count}-tenant PKI in ${dir}`);
        return { dir, tenants };
      }
    } catch {
      // No usable cache.
    }
  }
  const started = Date.now();
  const { newRsaKey } = await devPki();
  const keyPem = await newRsaKey();
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, "shared.key"), keyPem, { mode: 0o600 });
  const threads = Math.max(1, Math.min(availableParallelism(), 4));
  log(`signing ${count * (services.length + 1)} certificates on ${threads} threads…`);
  const shares = Array.from({ length: threads }, (_, i) =>
    tenants.filter((_, j) => j % threads === i),
  );
  await Promise.all(
    shares.map(
      (share) =>
        new Promise((resolveWorker, reject) => {
          const worker = new Worker(new URL(import.meta.url), {
            workerData: {
              dir,
              tenants: share,
              services,
              keyPem,
              trustDomain: TRUST_DOMAIN,
              days: DAYS,
            },
          });
          worker.once("error", reject);
          worker.once("exit", (code) =>
            code === 0 ? resolveWorker() : reject(new Error(`PKI worker exit ${code}`)),
          );
        }),
    ),
  );
  const notAfter = new Date(Date.now() + DAYS * 86_400_000).toISOString();
  await writeFile(join(dir, "manifest.json"), JSON.stringify({ count, services, notAfter }));
  log(`${count}-tenant PKI signed in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return { dir, tenants };
}

export function tenantNames(count) {
  return Array.from({ length: count }, (_, i) => `tenant-${String(i + 1).padStart(4, "0")}`);
}

async function signTenants({ dir, tenants, services, keyPem, trustDomain, days }) {
  const { createCa, issueSvid } = await devPki();
  for (const tenant of tenants) {
    const ca = await createCa({ commonName: `Palisade bench CA ${tenant}`, keyPem, days: 3650 });
    await mkdir(join(dir, tenant), { recursive: true });
    await writeFile(join(dir, tenant, "ca.crt"), ca.certPem);
    for (const service of services) {
      const leaf = await issueSvid(
        ca,
        { trustDomain, tenant, service },
        { keyPem, days, dnsNames: [`${tenant}.${service}.${trustDomain}`] },
      );
      await writeFile(join(dir, tenant, `${service}.crt`), leaf.certPem);
    }
  }
}

// Worker-thread entry: sign one share of the tenants.
const { isMainThread, workerData } = await import("node:worker_threads");
if (!isMainThread && workerData?.dir) await signTenants(workerData);
