/**
 * Inputs for the fuzzer: requests grown from seeds an attacker would start from, mutated
 * with the spellings that have split proxies from apps before (dot segments, encoded and
 * Unicode look-alike separators, userinfo in authorities, reserved and routing headers in
 * every casing, framing conflicts, header floods), and now and then a raw byte flip for the
 * parser. Seeded: a violation is reproduced by its seed and index.
 */

/** mulberry32: small, fast, and good enough to spread inputs. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export class Picker {
  constructor(readonly random: () => number) {}
  int(n: number): number {
    return Math.floor(this.random() * n);
  }
  chance(p: number): boolean {
    return this.random() < p;
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)] as T;
  }
}

export interface FuzzRequest {
  /** `fz-<n>`, sent as `x-request-id`. */
  id: string;
  /** The tenant whose certificate sends it. */
  as: string;
  method: string;
  target: string;
  headers: Array<[string, string]>;
  body: string;
  /** Set when a byte flip made it unparseable on purpose. */
  raw?: Buffer;
}

/** Pieces that have confused path checks somewhere. */
const PATH_PIECES = [
  "..",
  ".",
  "%2e%2e",
  "%2E%2e",
  ".%2e",
  "%2e",
  "%2f",
  "%2F",
  "%5c",
  "\\",
  "//",
  ";",
  ";x=1",
  "%00",
  "%25",
  "%252e%252e",
  "%c0%ae%c0%ae",
  "%EF%BC%8F",
  "%EF%BC%8E%EF%BC%8E",
  "%C5%BF",
  "%E2%80%A4%E2%80%A4",
  "%EF%B9%92",
  "%EF%BC%BC",
  "%E2%81%84",
  "%E2%88%95",
  "%ef%bd%94",
  "%E2%84%AA",
  "%CC%B8",
  "%20",
  "+",
  "*",
  "~",
  "%3F",
  "%23",
  "?",
  "#",
  "%7e",
];

const ROUTING_HEADERS = [
  "forwarded",
  "x-forwarded-host",
  "x-forwarded-prefix",
  "x-forwarded-uri",
  "x-forwarded-path",
  "x-forwarded-proto",
  "x-forwarded-for",
  "x-forwarded-server",
  "x-forwarded-port",
  "x-original-url",
  "x-original-uri",
  "x-original-host",
  "x-rewrite-url",
  "x-host",
  "x-http-method-override",
  "x-http-method",
  "x-method-override",
];

const RESERVED = ["x-palisade-tenant", "x-palisade-caller", "x-palisade-context", "x-palisade-x"];

export class Generator {
  readonly pick: Picker;
  constructor(
    seed: number,
    readonly tenants: readonly [string, string],
  ) {
    this.pick = new Picker(prng(seed));
  }

  #count = 0;

  next(): FuzzRequest {
    const p = this.pick;
    const id = `fz-${this.#count++}`;
    const [self, other] = p.chance(0.5)
      ? this.tenants
      : ([this.tenants[1], this.tenants[0]] as const);
    const request: FuzzRequest = {
      id,
      as: self,
      method: p.pick(["GET", "GET", "GET", "HEAD", "POST", "OPTIONS", "get", "PROPFIND"]),
      target: this.path(self, other),
      // The id ties what the app receives to the input that sent it, even when it arrives
      // late; an input that adds a second id makes Palisade mint a fresh one instead.
      headers: [
        ["Host", this.authority(self, other)],
        ["x-request-id", id],
      ],
      body: "",
    };
    const extra = p.int(4);
    for (let i = 0; i < extra; i++) request.headers.push(this.header(self, other));
    if (p.chance(0.03)) this.flood(request);
    if (p.chance(0.1)) this.framing(request);
    if (p.chance(0.05)) request.headers.push(["Host", this.authority(other, self)]);
    if (p.chance(0.05)) request.raw = this.flip(request);
    return request;
  }

  path(self: string, other: string): string {
    const p = this.pick;
    if (p.chance(0.05)) return `https://${p.pick([self, other])}.example/tenants/${other}/x`;
    const seeds = [
      `/tenants/${self}/orders`,
      `/tenants/${other}/orders`,
      `/tenants/${other}/reports/q3`,
      `/tenants/${self}/reports/q3`,
      `/tenants/`,
      `/`,
      `/tenants/${self}/../${other}/orders`,
    ];
    const segments = p.pick(seeds).split("/");
    // A third unmutated: the decision path needs inputs that get past the path checks too.
    const mutations = p.chance(0.35) ? 0 : 1 + p.int(3);
    for (let i = 0; i < mutations; i++) {
      const at = 1 + p.int(Math.max(1, segments.length - 1));
      const piece = p.pick(PATH_PIECES);
      switch (p.int(5)) {
        case 0:
          segments.splice(at, 0, piece);
          break;
        case 1:
          segments[at] = (segments[at] ?? "") + piece;
          break;
        case 2:
          segments[at] = piece + (segments[at] ?? "");
          break;
        case 3:
          segments[at] = (segments[at] ?? "").toUpperCase();
          break;
        default:
          segments[at] = this.encodeSome(segments[at] ?? "");
      }
    }
    const path = segments.join("/");
    return p.chance(0.1)
      ? `${path}?${p.pick(["a=1", "t=" + other, "%2e%2e", "x=/tenants/" + other])}`
      : path;
  }

  /** Percent-encodes some characters, sometimes as fullwidth or long-s look-alikes. */
  encodeSome(text: string): string {
    const p = this.pick;
    let out = "";
    for (const ch of text) {
      if (!p.chance(0.3)) out += ch;
      else if (ch === "s" && p.chance(0.3)) out += "%C5%BF";
      else if (/[!-~]/.test(ch) && p.chance(0.4))
        out += encodeURIComponent(
          String.fromCodePoint((ch.codePointAt(0) ?? 0x21) - 0x21 + 0xff01),
        );
      else out += `%${(ch.codePointAt(0) ?? 0).toString(16).padStart(2, "0")}`;
    }
    return out;
  }

  authority(self: string, other: string): string {
    const p = this.pick;
    if (p.chance(0.5))
      return p.pick(["orders.mesh.local", `${self}.orders.mesh.local`, "127.0.0.1:15006"]);
    return p.pick([
      "orders.mesh.local",
      `${self}.orders.mesh.local:15006`,
      `${self}.orders.mesh.local:1@${other}.orders.mesh.local`,
      `${other}.orders.mesh.local`,
      "127.0.0.1:8080",
      "[::1]:80",
      "[::1",
      "a b",
      "host/path",
      "host?x",
      "host#x",
      "",
      "h:99999",
      "h:-1",
      "xn--nxa.example",
      "Ｈost.example",
      "host.example.",
      "user@host",
    ]);
  }

  header(self: string, other: string): [string, string] {
    const p = this.pick;
    const spell = (name: string) =>
      p.pick([
        name,
        name.toUpperCase(),
        name.replaceAll("-", "_"),
        name.replace(/-(?=[^-]*$)/, "_"),
        name.replaceAll("-", "."),
      ]);
    switch (p.int(6)) {
      case 0:
        return [spell(p.pick(RESERVED)), p.pick([other, self, "", `${other}, ${self}`, "v1.x.y"])];
      case 1:
        return [
          spell(p.pick(ROUTING_HEADERS)),
          p.pick([`host=${other}.example`, `/tenants/${other}/x`, "DELETE", other]),
        ];
      case 2:
        return [
          "Connection",
          p.pick(["close", "x-palisade-tenant", "host", "keep-alive, te", "transfer-encoding"]),
        ];
      case 3:
        return [spell("x-target-tenant"), p.pick([other, self])];
      case 4:
        return ["x-request-id", p.pick(["abc", "a".repeat(300), "\u00e9", `${other}/../x`])];
      default:
        return [
          "traceparent",
          p.pick(["00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "garbage"]),
        ];
    }
  }

  flood(request: FuzzRequest): void {
    const n = this.pick.pick([50, 99, 101, 500, 1200]);
    for (let i = 0; i < n; i++) request.headers.push([`x-f${i}`, "1"]);
  }

  framing(request: FuzzRequest): void {
    const p = this.pick;
    request.body = p.pick([
      "",
      "hello",
      `0\r\n\r\nGET /tenants/x/orders HTTP/1.1\r\nHost: a\r\n\r\n`,
    ]);
    const framings: Array<Array<[string, string]>> = [
      [["Content-Length", String(request.body.length)]],
      [
        ["Content-Length", "0"],
        ["Content-Length", "5"],
      ],
      [
        ["Content-Length", "5"],
        ["Transfer-Encoding", "chunked"],
      ],
      [["Transfer-Encoding", "chunked, identity"]],
      [["Transfer-Encoding", " chunked"]],
      [["Content-Length", "+5"]],
    ];
    request.headers.push(...p.pick(framings));
  }

  flip(request: FuzzRequest): Buffer {
    const bytes = Buffer.from(serialize(request), "latin1");
    const flips = 1 + this.pick.int(3);
    for (let i = 0; i < flips; i++) {
      const at = this.pick.int(bytes.length);
      bytes[at] = this.pick.pick([0x00, 0x0a, 0x0d, 0x20, 0x3a, 0x7f, 0xff, this.pick.int(256)]);
    }
    return bytes;
  }
}

export function serialize(request: FuzzRequest): string {
  const head = request.headers.map(([n, v]) => `${n}: ${v}\r\n`).join("");
  return `${request.method} ${request.target} HTTP/1.1\r\n${head}Connection: close\r\n\r\n${request.body}`;
}
