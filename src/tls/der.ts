/**
 * A certificate's X.509 v3 extensions decoded from DER with a typed parser
 * (`@peculiar/asn1-x509`); the layout around them and the validity are walked in
 * `der-walk.ts`. `node:crypto` exposes neither criticality, nor unknown extensions, nor name
 * constraints, and renders SANs as display text that must then be split again; here every
 * field comes from the encoding itself. An extension that does not decode, carries bytes
 * after its value or is repeated is reported by OID and never half-read.
 */
import { AsnConvert } from "@peculiar/asn1-schema";
import {
  AuthorityKeyIdentifier,
  BasicConstraints,
  ExtendedKeyUsage,
  KeyUsage,
  NameConstraints,
  SubjectAlternativeName,
  SubjectKeyIdentifier,
  type GeneralName,
  type GeneralSubtree,
} from "@peculiar/asn1-x509";
import { certificateLayout, readTlv } from "./der-walk.js";

export const OID = {
  subjectKeyIdentifier: "2.5.29.14",
  keyUsage: "2.5.29.15",
  subjectAltName: "2.5.29.17",
  basicConstraints: "2.5.29.19",
  nameConstraints: "2.5.29.30",
  certificatePolicies: "2.5.29.32",
  authorityKeyIdentifier: "2.5.29.35",
  extendedKeyUsage: "2.5.29.37",
} as const;

/** keyUsage bits as `KeyUsage.toNumber()` numbers them (bit n → 2^n). */
export const KEY_USAGE = { digitalSignature: 1, keyCertSign: 32 } as const;

/** A GeneralName as it is matched here: URI and DNS names by value, any other by kind. */
export type NameEntry =
  | { kind: "uri" | "dns"; value: string }
  | { kind: "email" | "ip" | "directory" | "other"; value?: undefined };

export interface Subtree {
  base: NameEntry;
  /** `minimum` other than 0 or any `maximum`: RFC 5280 forbids them; never honoured. */
  bounded: boolean;
}

/** Each extension Palisade reads, by OID, and the type its value decodes to. */
export interface Decoded {
  [OID.subjectAltName]: readonly NameEntry[];
  [OID.basicConstraints]: { ca: boolean; pathLen?: number };
  [OID.keyUsage]: number;
  [OID.extendedKeyUsage]: readonly string[];
  [OID.nameConstraints]: { permitted: readonly Subtree[]; excluded: readonly Subtree[] };
  /** Hex. */
  [OID.subjectKeyIdentifier]: string;
  /** Hex; `undefined` when only the issuer name and serial are given. */
  [OID.authorityKeyIdentifier]: string | undefined;
}

type Known = keyof Decoded;

/** Typed decoders (`@peculiar/asn1-x509`); a throw marks that extension unreadable. */
const DECODERS: { [K in Known]: (value: Uint8Array) => Decoded[K] } = {
  [OID.subjectAltName]: (v) => decode(v, SubjectAlternativeName).map(nameEntry),
  [OID.basicConstraints]: (v) => {
    const { cA: ca, pathLenConstraint: pathLen } = decode(v, BasicConstraints);
    return pathLen === undefined ? { ca } : { ca, pathLen };
  },
  [OID.keyUsage]: (v) => decode(v, KeyUsage).toNumber(),
  [OID.extendedKeyUsage]: (v) => [...decode(v, ExtendedKeyUsage)],
  [OID.nameConstraints]: (v) => {
    const nc = decode(v, NameConstraints);
    return {
      permitted: [...(nc.permittedSubtrees ?? [])].map(subtree),
      excluded: [...(nc.excludedSubtrees ?? [])].map(subtree),
    };
  },
  [OID.subjectKeyIdentifier]: (v) => hex(decode(v, SubjectKeyIdentifier).buffer),
  [OID.authorityKeyIdentifier]: (v) => {
    const id = decode(v, AuthorityKeyIdentifier).keyIdentifier;
    return id === undefined ? undefined : hex(id.buffer);
  },
};

const KNOWN: ReadonlySet<string> = new Set(Object.keys(DECODERS));

type Outcome = { ok: true; value: unknown } | { ok: false };

/**
 * A certificate's DER: its layout walked at once (cheap), each extension's value decoded
 * with the typed parser the first time it is asked for. A peer's certificate that is never
 * used as an issuer or leaf costs no decoding beyond the walk.
 */
export class CertificateDer {
  /** X.509 version as written: 1, 2 or 3. */
  readonly version: number;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** Every extension as written, in order. */
  readonly present: readonly { oid: string; critical: boolean }[];
  readonly #values = new Map<string, Uint8Array>();
  /** Extensions written more than once: RFC 5280 §4.2 forbids it; neither copy is read. */
  readonly #repeated = new Set<string>();
  readonly #decoded = new Map<string, Outcome>();

  /** Throws when the certificate's own structure does not decode. */
  constructor(der: Uint8Array) {
    const layout = certificateLayout(der);
    this.version = layout.version + 1;
    this.notBefore = layout.notBefore;
    this.notAfter = layout.notAfter;
    this.present = layout.extensions.map(({ oid, critical }) => ({ oid, critical }));
    for (const { oid, value } of layout.extensions) {
      if (this.#values.has(oid)) this.#repeated.add(oid);
      this.#values.set(oid, value);
    }
  }

  /** The extension's value; `undefined` when absent or unreadable (see `unreadable`). */
  get<K extends Known>(oid: K): Decoded[K] | undefined {
    const outcome = this.#outcome(oid);
    return outcome?.ok ? (outcome.value as Decoded[K]) : undefined;
  }

  /** True when the extension is present but does not decode (or is repeated). */
  isUnreadable(oid: string): boolean {
    return this.#outcome(oid)?.ok === false;
  }

  /** Every present extension Palisade reads that does not decode: all are decoded here. */
  unreadable(): string[] {
    return [...this.#values.keys()].filter((oid) => this.isUnreadable(oid));
  }

  #outcome(oid: string): Outcome | undefined {
    const value = this.#values.get(oid);
    if (value === undefined || !KNOWN.has(oid)) return undefined;
    let outcome = this.#decoded.get(oid);
    if (outcome === undefined) {
      outcome = this.#repeated.has(oid) ? { ok: false } : attempt(oid as Known, value);
      this.#decoded.set(oid, outcome);
    }
    return outcome;
  }
}

function attempt(oid: Known, value: Uint8Array): Outcome {
  try {
    return { ok: true, value: DECODERS[oid](value) };
  } catch {
    return { ok: false };
  }
}

/** Decodes one DER value that must fill `bytes` exactly: trailing bytes are refused. */
function decode<T>(bytes: Uint8Array, type: new () => T): T {
  if (readTlv(bytes, 0, bytes.byteLength).end !== bytes.byteLength) {
    throw new Error("trailing data after DER value");
  }
  return AsnConvert.parse(bytes, type);
}

function nameEntry(name: GeneralName): NameEntry {
  if (name.uniformResourceIdentifier !== undefined) {
    return { kind: "uri", value: name.uniformResourceIdentifier };
  }
  if (name.dNSName !== undefined) return { kind: "dns", value: name.dNSName };
  if (name.rfc822Name !== undefined) return { kind: "email" };
  if (name.iPAddress !== undefined) return { kind: "ip" };
  if (name.directoryName !== undefined) return { kind: "directory" };
  return { kind: "other" };
}

function subtree(node: GeneralSubtree): Subtree {
  return { base: nameEntry(node.base), bounded: node.minimum !== 0 || node.maximum !== undefined };
}

function hex(buffer: ArrayBuffer): string {
  return Buffer.from(buffer).toString("hex");
}
