/**
 * The deny-safe view of a request path, used for both target extraction and grant
 * matching. Palisade and the app must agree on where segments begin and end, and an app
 * may decode, resolve dot segments or treat `\` as `/` in ways we cannot predict. So
 * anything that could move a segment boundary is refused, never repaired: the path we
 * check is the path the app receives, byte for byte.
 *
 * Percent-encodings are never decoded. The ones that could change segment boundaries
 * once decoded (`%2e`, `%2f`, `%5c`, also when double-encoded as `%252e`) or that hide a
 * control character are refused; every other encoding is left as sent, so an encoded
 * segment simply never equals a literal one (deny, not bypass).
 *
 * Encoded non-ASCII text is allowed (`caf%C3%A9`) unless an app's Unicode handling could
 * turn it into ASCII: see `hasAsciiLookalike`. Raw non-ASCII is refused outright.
 *
 * Segments are `path.slice(1).split("/")`: `/` is `[""]`, `/a` is `["a"]` and `/a/` is
 * `["a", ""]`. An empty segment is only allowed last (the trailing slash), and so is one that
 * is empty once its path parameters are stripped (`;x`).
 */

export type CanonicalPathRefusal =
  | "dot_segment"
  | "encoded_separator"
  | "empty_segment"
  | "backslash"
  | "control_char"
  | "unicode_lookalike"
  | "not_origin_form";

export type CanonicalPath =
  | {
      ok: true;
      /** The raw path, without the query, exactly as received. */
      path: string;
      segments: string[];
      /** The raw query including its leading `?`, or "" when there is none: `path + query` is the request target. */
      query: string;
    }
  | { ok: false; reason: CanonicalPathRefusal };

const SLASH = 0x2f;
const BACKSLASH = 0x5c;
const PERCENT = 0x25;
const HASH = 0x23;
const DOT = 0x2e;
const SEMICOLON = 0x3b;
/** Decoding rounds tried on `%25`; more layers than this is not a real client. */
export const MAX_DECODE_ROUNDS = 3;

function refuse(reason: CanonicalPathRefusal): CanonicalPath {
  return { ok: false, reason };
}

/** Refusal for one character outside percent-encodings, or undefined when it may appear. */
function charProblem(c: number): CanonicalPathRefusal | undefined {
  if (c < 0x20 || c === 0x7f) return "control_char";
  if (c === BACKSLASH) return "backslash";
  // Space, `#` and raw non-ASCII are not legal in a request target (RFC 9112 §3.2); apps
  // disagree about them (Unicode normalisation can even yield `/`), so refuse.
  if (c === 0x20 || c === HASH || c > 0x7e) return "not_origin_form";
  return undefined;
}

/** Refusal for one percent-encoded byte. */
function byteProblem(byte: number): CanonicalPathRefusal | undefined {
  // `;` too: a router that decodes before stripping path parameters splits a segment there.
  if (byte === DOT || byte === SLASH || byte === BACKSLASH || byte === SEMICOLON)
    return "encoded_separator";
  if (byte < 0x20 || byte === 0x7f) return "control_char";
  return undefined;
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  const lower = c | 0x20;
  if (lower >= 0x61 && lower <= 0x66) return lower - 0x61 + 10;
  return -1;
}

/**
 * `.` and `..`, and also `..;x` (Tomcat and Spring strip path parameters before resolving
 * dot segments) and `..%xx` (servers that decode or trim before resolving).
 */
export function isDotLikeSegment(s: string, start = 0, end = s.length): boolean {
  if (end <= start || s.charCodeAt(start) !== DOT) return false;
  let i = start + 1;
  if (i < end && s.charCodeAt(i) === DOT) i++;
  if (i === end) return true;
  const next = s.charCodeAt(i);
  return next === SEMICOLON || next === PERCENT;
}

export function canonicalPath(rawPathWithQuery: string): CanonicalPath {
  const raw = rawPathWithQuery;
  // Origin form only: absolute-form and `*` must be turned into a path by the caller first.
  if (raw.charCodeAt(0) !== SLASH) return refuse("not_origin_form");
  let end = raw.indexOf("?");
  if (end === -1) end = raw.length;

  const segments: string[] = [];
  let segmentStart = 1;
  let sawDoubleEncoding = false;
  let sawHighByte = false;
  for (let i = 1; i <= end; i++) {
    const c = i === end ? SLASH : raw.charCodeAt(i);
    if (c === SLASH) {
      if (segmentStart === i && i !== end) return refuse("empty_segment");
      // `/;x/tenants/…`: servers that strip path parameters (Tomcat, Spring) see `//tenants/…`
      // and merge the slashes, so Palisade and the app would disagree on the first segment.
      // Last segment too: `/reports/;x` is `/reports/` there, the collection a `*` grant omits.
      if (raw.charCodeAt(segmentStart) === SEMICOLON) return refuse("empty_segment");
      if (isDotLikeSegment(raw, segmentStart, i)) return refuse("dot_segment");
      segments.push(raw.slice(segmentStart, i));
      segmentStart = i + 1;
    } else if (c === PERCENT) {
      const hi = i + 2 < end ? hexValue(raw.charCodeAt(i + 1)) : -1;
      const lo = hi === -1 ? -1 : hexValue(raw.charCodeAt(i + 2));
      if (lo === -1) return refuse("not_origin_form");
      const byte = (hi << 4) | lo;
      const problem = byteProblem(byte);
      if (problem) return refuse(problem);
      if (byte === PERCENT) sawDoubleEncoding = true;
      else if (byte > 0x7f) sawHighByte = true;
      i += 2;
    } else {
      const problem = charProblem(c);
      if (problem) return refuse(problem);
    }
  }

  // The query never decides a target or a grant; only characters that could split a
  // header or a log line are refused there.
  for (let i = end + 1; i < raw.length; i++) {
    const c = raw.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return refuse("control_char");
  }

  const path = end === raw.length ? raw : raw.slice(0, end);
  // Rare paths only: the common request never pays for decoding.
  if (sawHighByte || sawDoubleEncoding) {
    const problem = decodedProblem(path, sawDoubleEncoding);
    if (problem) return refuse(problem);
  }
  return { ok: true, path, segments, query: raw.slice(end) };
}

/**
 * Encoded bytes must form valid UTF-8 (an overlong `%c0%ae` is a `.` to a lax decoder),
 * an app that decodes twice must not find a separator or control byte in the result, and
 * no decoding round may yield an ASCII look-alike. Another round is only tried while the
 * decoded text still holds an escape that could hide one (`%25` or a byte above 0x7f).
 */
function decodedProblem(path: string, doubleEncoded: boolean): CanonicalPathRefusal | undefined {
  let current = path;
  for (let round = 0; round <= MAX_DECODE_ROUNDS; round++) {
    let decoded: string;
    try {
      decoded = decodeURIComponent(current);
    } catch {
      return "not_origin_form";
    }
    if (hasAsciiLookalike(decoded)) return "unicode_lookalike";
    if (!doubleEncoded || !decoded.includes("%")) return undefined;
    let hidesMore = false;
    for (let i = decoded.indexOf("%"); i !== -1; i = decoded.indexOf("%", i + 1)) {
      const hi = hexValue(decoded.charCodeAt(i + 1));
      const lo = hexValue(decoded.charCodeAt(i + 2));
      if (hi === -1 || lo === -1) continue;
      const byte = (hi << 4) | lo;
      const problem = byteProblem(byte);
      if (problem) return problem === "control_char" ? problem : "encoded_separator";
      if (byte === PERCENT || byte > 0x7f) hidesMore = true;
    }
    if (!hidesMore) return undefined;
    current = decoded;
  }
  return "encoded_separator";
}

/** Everything but ASCII; surrogate pairs stay whole. */
const ASCII = /[^\u0080-\uffff]/g;
const HAS_ASCII = /[^\u0080-\uffff]/;
const DEFAULT_IGNORABLE = /\p{Default_Ignorable_Code_Point}/u;

/**
 * True when decoded path text holds a non-ASCII character that NFKC normalisation or a
 * case mapping (lower, upper, or two of these in a row, as NFKC_Casefold does) turns into
 * text containing ASCII: fullwidth forms (`ｔ`, `／`, `．`, `％`), compatibility forms
 * (`․` one dot leader, `‥`, `﹒`, `ﬁ`, `℀` → `a/c`, `²`) and case mappings into ASCII
 * (`ſ` → `S`, Kelvin `K` → `k`, `ı` → `I`, `ß` → `SS`, `İ` → `i̇`). An app that normalises
 * would see a separator, a dot segment or a route literal (`/tenantſ/` → `/tenants/`)
 * where Palisade saw an opaque encoded segment.
 *
 * Only the non-ASCII characters are examined, together: composition never yields ASCII
 * and case mappings are per character, so this equals checking each one, at a cost of a
 * few whole-string operations however many characters an attacker sends.
 */
export function hasAsciiLookalike(decoded: string): boolean {
  const foreign = decoded.replace(ASCII, "");
  if (foreign === "") return false;
  // Invisible characters NFKC_Casefold removes (soft hyphen, zero-width space, BOM, …): an
  // app that applies it joins their ASCII neighbours (`tenant\u00ADs` is `tenants`).
  if (DEFAULT_IGNORABLE.test(foreign)) return true;
  let views = [foreign];
  for (let round = 0; round < 2; round++) {
    const next: string[] = [];
    for (const view of views) {
      next.push(view.normalize("NFKC"), view.toLowerCase(), view.toUpperCase());
    }
    if (next.some((view) => HAS_ASCII.test(view))) return true;
    views = next;
  }
  return false;
}
