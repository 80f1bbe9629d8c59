/**
 * A certificate's validity and X.509 v3 extensions read from DER with a typed parser
 * (`@peculiar/asn1-x509`). `node:crypto` exposes neither criticality, nor unknown
 * extensions, nor name constraints, and renders SANs as display text that must then be
 * split again; here every field comes from the encoding itself. An extension that does not
 * decode, or carries bytes after its value, is reported by OID and never half-read.
 */
import { AsnConvert } from "@peculiar/asn1-schema";
import {
  AuthorityKeyIdentifier,
  BasicConstraints,
  Certificate,
  ExtendedKeyUsage,
  KeyUsage,
  NameConstraints,
  SubjectAlternativeName,
  SubjectKeyIdentifier,
  type GeneralName,
  type GeneralSubtree,
} from "@peculiar/asn1-x509";

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

export interface DerFields {
  /** X.509 version as written: 1, 2 or 3. */
  version: number;
  notBefore: Date;
  notAfter: Date;
  /** Every extension as written, in order. */
  present: readonly { oid: string; critical: boolean }[];
  /** OIDs of extensions that did not decode (or appear twice): none of their fields is set. */
  unreadable: readonly string[];
  subjectAltNames?: readonly NameEntry[];
  basicConstraints?: { ca: boolean; pathLen?: number };
  keyUsage?: number;
  extKeyUsage?: readonly string[];
  nameConstraints?: { permitted: readonly Subtree[]; excluded: readonly Subtree[] };
  /** Hex. */
  subjectKeyId?: string;
  authorityKeyId?: string;
}

type Mutable = { -readonly [K in keyof DerFields]: DerFields[K] };

/** Decoders of the extensions Palisade reads; a throw marks that extension unreadable. */
const DECODERS: Record<string, (value: ArrayBuffer, into: Mutable) => void> = {
  [OID.subjectAltName]: (v, into) => {
    into.subjectAltNames = decode(v, SubjectAlternativeName).map(nameEntry);
  },
  [OID.basicConstraints]: (v, into) => {
    const bc = decode(v, BasicConstraints);
    const pathLen = bc.pathLenConstraint;
    into.basicConstraints = pathLen === undefined ? { ca: bc.cA } : { ca: bc.cA, pathLen };
  },
  [OID.keyUsage]: (v, into) => {
    into.keyUsage = decode(v, KeyUsage).toNumber();
  },
  [OID.extendedKeyUsage]: (v, into) => {
    into.extKeyUsage = [...decode(v, ExtendedKeyUsage)];
  },
  [OID.nameConstraints]: (v, into) => {
    const nc = decode(v, NameConstraints);
    into.nameConstraints = {
      permitted: [...(nc.permittedSubtrees ?? [])].map(subtree),
      excluded: [...(nc.excludedSubtrees ?? [])].map(subtree),
    };
  },
  [OID.subjectKeyIdentifier]: (v, into) => {
    into.subjectKeyId = hex(decode(v, SubjectKeyIdentifier).buffer);
  },
  [OID.authorityKeyIdentifier]: (v, into) => {
    const id = decode(v, AuthorityKeyIdentifier).keyIdentifier;
    if (id) into.authorityKeyId = hex(id.buffer);
  },
};

/**
 * Reads `der` (a whole certificate, already accepted by OpenSSL). Throws only when the
 * certificate itself does not decode; a bad extension lands in `unreadable`.
 */
export function readCertificateDer(der: Uint8Array): DerFields {
  const tbs = decode(der, Certificate).tbsCertificate;
  const { notBefore, notAfter } = tbs.validity;
  const present: { oid: string; critical: boolean }[] = [];
  const unreadable: string[] = [];
  const into: Mutable = {
    version: tbs.version + 1,
    notBefore: notBefore.getTime(),
    notAfter: notAfter.getTime(),
    present,
    unreadable,
  };
  const seen = new Set<string>();
  for (const ext of tbs.extensions ?? []) {
    present.push({ oid: ext.extnID, critical: ext.critical });
    // RFC 5280 §4.2: an extension appears at most once; which copy would count is anyone's guess.
    if (seen.has(ext.extnID)) unreadable.push(ext.extnID);
    seen.add(ext.extnID);
    try {
      DECODERS[ext.extnID]?.(ext.extnValue.buffer, into);
    } catch {
      unreadable.push(ext.extnID);
    }
  }
  return into;
}

/** Decodes one DER value that must fill `bytes` exactly: trailing bytes are refused. */
function decode<T>(bytes: ArrayBuffer | Uint8Array, type: new () => T): T {
  const view = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  if (tlvLength(view) !== view.byteLength) throw new Error("trailing data after DER value");
  return AsnConvert.parse(view, type);
}

/** Length of the DER TLV at the start of `b` (definite lengths only, as DER demands). */
function tlvLength(b: Uint8Array): number {
  if (b.byteLength < 2 || ((b[0] as number) & 0x1f) === 0x1f) return -1;
  const first = b[1] as number;
  if (first < 0x80) return 2 + first;
  const count = first & 0x7f;
  if (count === 0 || count > 4 || b.byteLength < 2 + count) return -1;
  let length = 0;
  for (let i = 0; i < count; i++) length = length * 256 + (b[2 + i] as number);
  return 2 + count + length;
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
