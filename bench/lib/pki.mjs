/**
 * Development PKIs for the benchmark, made with Palisade's own dev-PKI functions but with
 * ONE RSA modulus for every CA and leaf: a 2048-bit key takes ~0.6 s to generate on a busy
 * 2-core box, two hours for 10 000 tenants. Palisade refuses tenants whose CAs share a key
 * (`shared_ca`), so each tenant's CA gets its own public exponent over that modulus: a
 * distinct public key (SPKI) and a working private key, though not an independent one,
 * which a benchmark does not need. Leaves share the base key (exponent 65537). forge builds each certificate in
 * JavaScript and node:crypto signs it (~2.5 ms a certificate; 10 000 tenants in about 30 s
 * on two threads), so large PKIs are still signed on worker threads and cached under
 * node_modules/.cache/palisade-bench between runs.
 *
 * Layout: `DIR/shared.key`, `DIR/<tenant>/ca.crt`, `DIR/<tenant>/<service>.crt`.
 */
import { createPrivateKey } from "node:crypto";
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
  await signTenants({
    dir,
    tenants: tenants.map((t, i) => [t, i]),
    services,
    keyPem: key,
    trustDomain: TRUST_DOMAIN,
    days: DAYS,
  });
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
    tenants.map((t, j) => [t, j]).filter(([, j]) => j % threads === i),
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

/**
 * `(index) => PKCS#8 PEM`: the private key over `keyPem`'s modulus whose public exponent is
 * the `index`-th prime after 65537 coprime to λ(n), i.e. the index-th tenant CA's key.
 */
export function derivedRsaKeys(keyPem) {
  const jwk = createPrivateKey(keyPem).export({ format: "jwk" });
  const [p, q] = [big(jwk.p), big(jwk.q)];
  const lambda = lcm(p - 1n, q - 1n);
  const qi = b64(modInverse(q, p));
  const exponents = [];
  return (index) => {
    while (exponents.length <= index) {
      let e = exponents.at(-1) ?? 65537n;
      do e += 2n;
      while (!isSmallPrime(e) || lambda % e === 0n);
      exponents.push(e);
    }
    const e = exponents[index];
    const d = modInverse(e, lambda);
    const derived = {
      ...jwk,
      e: b64(e),
      d: b64(d),
      dp: b64(d % (p - 1n)),
      dq: b64(d % (q - 1n)),
      qi,
    };
    return createPrivateKey({ key: derived, format: "jwk" }).export({
      type: "pkcs8",
      format: "pem",
    });
  };
}

const big = (b64url) => BigInt(`0x${Buffer.from(b64url, "base64url").toString("hex") || "0"}`);
function b64(n) {
  const hex = n.toString(16);
  return Buffer.from(hex.length % 2 ? `0${hex}` : hex, "hex").toString("base64url");
}
const gcd = (a, b) => (b === 0n ? a : gcd(b, a % b));
const lcm = (a, b) => (a / gcd(a, b)) * b;
function isSmallPrime(n) {
  for (let k = 3n; k * k <= n; k += 2n) if (n % k === 0n) return false;
  return n % 2n !== 0n;
}
function modInverse(a, m) {
  let [r0, r1, s0, s1] = [a % m, m, 1n, 0n];
  while (r1 !== 0n) {
    const quotient = r0 / r1;
    [r0, r1] = [r1, r0 - quotient * r1];
    [s0, s1] = [s1, s0 - quotient * s1];
  }
  return ((s0 % m) + m) % m;
}

async function signTenants({ dir, tenants, services, keyPem, trustDomain, days }) {
  const { createCa, issueSvid } = await devPki();
  const caKeyOf = derivedRsaKeys(keyPem);
  for (const [tenant, index] of tenants) {
    const caKey = caKeyOf(index);
    const ca = await createCa({
      commonName: `Palisade bench CA ${tenant}`,
      keyPem: caKey,
      days: 3650,
    });
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
