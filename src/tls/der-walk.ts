/**
 * The few structural steps from a certificate's DER to its version, validity and raw
 * extensions (RFC 5280 §4.1), walked by hand: a typed schema parse of the whole certificate
 * costs several times more, and a peer chooses how many new certificates it sends. OpenSSL
 * has already accepted the DER; every length is still checked against its bounds here, and
 * anything unexpected throws.
 */

export interface RawExtension {
  oid: string;
  critical: boolean;
  /** The extnValue's contents: the DER of the extension's own value. */
  value: Uint8Array;
}

export interface CertificateLayout {
  /** As written: 0 for v1, 2 for v3. */
  version: number;
  notBefore: Date;
  notAfter: Date;
  extensions: RawExtension[];
}

interface Tlv {
  tag: number;
  /** Offset of the tag. */
  offset: number;
  /** Offsets of the contents in the buffer. */
  start: number;
  end: number;
}

const SEQUENCE = 0x30;
const INTEGER = 0x02;
const BOOLEAN = 0x01;
const OCTET_STRING = 0x04;
const OID = 0x06;
const UTC_TIME = 0x17;
const GENERALIZED_TIME = 0x18;
const VERSION = 0xa0;
const EXTENSIONS = 0xa3;

export function certificateLayout(der: Uint8Array): CertificateLayout {
  const certificate = expect(readTlv(der, 0, der.byteLength), SEQUENCE);
  const tbs = expect(children(der, certificate)[0], SEQUENCE);
  const fields = children(der, tbs);
  let version = 0;
  if (fields[0]?.tag === VERSION) {
    const integer = expect(children(der, fields[0])[0], INTEGER);
    version = der[integer.end - 1] as number;
    fields.shift();
  }
  // serialNumber, signature, issuer, validity, subject, subjectPublicKeyInfo, …
  const [notBefore, notAfter] = children(der, expect(fields[3], SEQUENCE)).map((t) => time(der, t));
  if (notBefore === undefined || notAfter === undefined) throw new Error("bad validity");
  const explicit = fields.find((f) => f.tag === EXTENSIONS);
  const list = explicit ? children(der, expect(children(der, explicit)[0], SEQUENCE)) : [];
  return {
    version,
    notBefore,
    notAfter,
    extensions: list.map((ext) => extension(der, ext)),
  };
}

function extension(der: Uint8Array, node: Tlv): RawExtension {
  const parts = children(der, expect(node, SEQUENCE));
  const oid = expect(parts[0], OID);
  const flag = parts.length === 3 ? expect(parts[1], BOOLEAN) : undefined;
  const value = expect(parts[parts.length - 1], OCTET_STRING);
  if (parts.length < 2 || parts.length > 3) throw new Error("unexpected extension structure");
  return {
    oid: decodeOid(der.subarray(oid.start, oid.end)),
    critical: flag !== undefined && der[flag.start] !== 0,
    value: der.subarray(value.start, value.end),
  };
}

/** The TLV at `offset`; definite lengths only (DER), within `limit`. */
export function readTlv(der: Uint8Array, offset: number, limit: number): Tlv {
  const tag = der[offset];
  const first = der[offset + 1];
  if (tag === undefined || first === undefined || (tag & 0x1f) === 0x1f) throw truncated();
  let start = offset + 2;
  let length = first;
  if (first >= 0x80) {
    const count = first & 0x7f;
    if (count === 0 || count > 4) throw truncated();
    length = 0;
    for (let i = 0; i < count; i++) length = length * 256 + (der[start + i] ?? NaN);
    start += count;
  }
  const end = start + length;
  if (!Number.isFinite(end) || end > limit) throw truncated();
  return { tag, offset, start, end };
}

function children(der: Uint8Array, node: Tlv): Tlv[] {
  const found: Tlv[] = [];
  for (let offset = node.start; offset < node.end;) {
    const child = readTlv(der, offset, node.end);
    found.push(child);
    offset = child.end;
  }
  return found;
}

function expect(node: Tlv | undefined, tag: number): Tlv {
  if (node?.tag !== tag) throw new Error("unexpected certificate structure");
  return node;
}

function truncated(): Error {
  return new Error("truncated or indefinite DER length");
}

/** OBJECT IDENTIFIER contents → dotted text (X.690 §8.19). */
function decodeOid(bytes: Uint8Array): string {
  const arcs: number[] = [];
  let value = 0;
  for (const byte of bytes) {
    value = value * 128 + (byte & 0x7f);
    if (value > Number.MAX_SAFE_INTEGER / 128) throw new Error("OID arc too large");
    if ((byte & 0x80) === 0) {
      arcs.push(value);
      value = 0;
    }
  }
  if (arcs.length === 0 || (bytes[bytes.length - 1] as number) & 0x80) throw new Error("bad OID");
  const first = arcs[0] as number;
  const head = first < 80 ? [Math.floor(first / 40), first % 40] : [2, first - 80];
  return [...head, ...arcs.slice(1)].join(".");
}

/**
 * RFC 5280 §4.1.2.5: UTCTime `YYMMDDHHMMSSZ` (years 1950–2049) or GeneralizedTime
 * `YYYYMMDDHHMMSSZ`, nothing else (no fractions, no offsets).
 */
function time(der: Uint8Array, node: Tlv): Date {
  const text = Buffer.from(der.subarray(node.start, node.end)).toString("latin1");
  const utc = node.tag === UTC_TIME && /^\d{12}Z$/.test(text);
  if (!utc && !(node.tag === GENERALIZED_TIME && /^\d{14}Z$/.test(text))) {
    throw new Error("bad certificate time");
  }
  const yy = Number(text.slice(0, 2));
  const year = utc ? (yy >= 50 ? 1900 + yy : 2000 + yy) : Number(text.slice(0, 4));
  // The pattern tested above guarantees five pairs of digits.
  const pairs = (utc ? text.slice(2) : text.slice(4)).match(/\d\d/g) ?? [];
  const [month = 0, day = 0, hour = 0, minute = 0, second = 0] = pairs.map(Number);
  const date = new Date(Date.UTC(year, month - 1, day, hour, minute, second));
  // Date.UTC rolls over (month 13, second 60): what it rolled is not a time that was written.
  const read = [date.getUTCMonth() + 1, date.getUTCDate(), date.getUTCHours()];
  const written = [month, day, hour];
  if (read.some((v, i) => v !== written[i]) || minute > 59 || second > 59) {
    throw new Error("bad certificate time");
  }
  return date;
}
