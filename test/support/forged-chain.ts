/**
 * Certificates an attacker makes with keys of their own choosing (node-forge, any issuer
 * name, any key), for the attacks on the chain verifier: an RSA key with a huge public
 * exponent (each signature check with it costs milliseconds), and floods of intermediates
 * sharing one subject name.
 */
import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  generatePrimeSync,
  randomBytes,
} from "node:crypto";
import forge from "node-forge";

/** A key pair as PEM. */
export interface PemKeyPair {
  publicKeyPem: string;
  privateKeyPem: string;
}

const b64u = (n: bigint) => {
  const hex = n.toString(16);
  return Buffer.from(hex.length % 2 ? `0${hex}` : hex, "hex").toString("base64url");
};
const gcd = (a: bigint, b: bigint): bigint => (b === 0n ? a : gcd(b, a % b));
function modInverse(a: bigint, m: bigint): bigint {
  let [r0, r1, s0, s1] = [a % m, m, 1n, 0n];
  while (r1 !== 0n) {
    const q = r0 / r1;
    [r0, r1] = [r1, r0 - q * r1];
    [s0, s1] = [s1, s0 - q * s1];
  }
  return ((s0 % m) + m) % m;
}

/**
 * An RSA key whose public exponent is nearly as long as its modulus: valid, and every
 * signature verification with it costs as much as a private-key operation.
 */
export function hugeExponentKey(bits = 2048): PemKeyPair {
  const p = generatePrimeSync(bits / 2, { bigint: true });
  const q = generatePrimeSync(bits / 2, { bigint: true });
  const n = p * q;
  const phi = (p - 1n) * (q - 1n);
  let e: bigint;
  do {
    e = BigInt(`0x${randomBytes(bits / 8 - 1).toString("hex")}`) | 1n | (1n << BigInt(bits - 10));
  } while (gcd(e, phi) !== 1n);
  const d = modInverse(e, phi);
  const jwk = {
    kty: "RSA",
    n: b64u(n),
    e: b64u(e),
    d: b64u(d),
    p: b64u(p),
    q: b64u(q),
    dp: b64u(d % (p - 1n)),
    dq: b64u(d % (q - 1n)),
    qi: b64u(modInverse(q, p)),
  };
  const key = createPrivateKey({ key: jwk, format: "jwk" });
  return {
    privateKeyPem: key.export({ type: "pkcs1", format: "pem" }) as string,
    publicKeyPem: createPublicKey(key).export({ type: "spki", format: "pem" }) as string,
  };
}

/** An ordinary RSA key (1024 bits: cheap to make, and its size is not what is tested). */
export function rsaKey(): PemKeyPair {
  const { publicKey, privateKey } = generateKeyPairSync("rsa", { modulusLength: 1024 });
  return {
    publicKeyPem: publicKey.export({ type: "spki", format: "pem" }) as string,
    privateKeyPem: privateKey.export({ type: "pkcs1", format: "pem" }) as string,
  };
}

export interface ForgedCertOptions {
  /** Common names. */
  subject: string;
  issuer: string;
  /** The certified key, and the key that signs (the issuer's). */
  key: PemKeyPair;
  signer: PemKeyPair;
  ca?: boolean;
  /** A SPIFFE id for a leaf. */
  uri?: string;
}

let serial = 1;

/** One certificate, PEM, valid from an hour ago for a day, with exactly the given names. */
export function forgeCert(opts: ForgedCertOptions): string {
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.publicKeyFromPem(opts.key.publicKeyPem);
  cert.serialNumber = (serial++).toString(16).padStart(4, "0");
  cert.validity.notBefore = new Date(Date.now() - 3_600_000);
  cert.validity.notAfter = new Date(Date.now() + 86_400_000);
  cert.setSubject([{ name: "commonName", value: opts.subject }]);
  cert.setIssuer([{ name: "commonName", value: opts.issuer }]);
  cert.setExtensions([
    { name: "basicConstraints", cA: opts.ca === true, critical: true },
    ...(opts.ca ? [{ name: "keyUsage", keyCertSign: true, cRLSign: true, critical: true }] : []),
    ...(opts.uri ? [{ name: "subjectAltName", altNames: [{ type: 6, value: opts.uri }] }] : []),
  ]);
  const signer = forge.pki.privateKeyFromPem(opts.signer.privateKeyPem);
  cert.sign(signer, forge.md.sha256.create());
  return forge.pki.certificateToPem(cert);
}

/**
 * The stranger's chain of the red-team review: a leaf claiming `uri` (its own ordinary
 * key) under `count` intermediates that all share one subject name and `caKey`.
 */
export function sameNameChain(
  uri: string,
  caKey: PemKeyPair | (() => PemKeyPair),
  count = 8,
): { leafPem: string; leafKey: PemKeyPair; intermediatePems: string[] } {
  const keyFor = typeof caKey === "function" ? caKey : () => caKey;
  const keys = Array.from({ length: count }, keyFor);
  const intermediatePems = keys.map((key, i) =>
    forgeCert({
      subject: "X",
      issuer: "X",
      key,
      signer: keys[(i + 1) % count] as PemKeyPair,
      ca: true,
    }),
  );
  const leafKey = rsaKey();
  const leafPem = forgeCert({
    subject: "leaf",
    issuer: "X",
    key: leafKey,
    signer: keys[0] as PemKeyPair,
    uri,
  });
  return { leafPem, leafKey, intermediatePems };
}
