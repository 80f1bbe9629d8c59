/**
 * Parsing for the header values that decide freshness: `Cache-Control` (RFC 9111 §5.2),
 * delta-seconds (§1.2.2) and HTTP-dates (RFC 9110 §5.6.7). Values come from the network,
 * so every oddity (quotes, duplicates, junk) has a defined, conservative reading.
 */

/** Lower-case directive name → argument (unquoted), or `true` when it has none. */
export type Directives = ReadonlyMap<string, string | true>;

const TOKEN = /^[!#$%&'*+.^_`|~0-9a-z-]+$/;

/**
 * Reads one or more `Cache-Control` field values. Names are case-insensitive; quoted
 * arguments may contain commas and backslash escapes. A directive repeated with a different
 * argument gets the argument "" (invalid), so a numeric one reads as stale: RFC 9111 §4.2.1
 * allows treating conflicting freshness information as stale, and that is the safe choice.
 */
export function parseCacheControl(value: string | readonly string[] | undefined): Directives {
  const directives = new Map<string, string | true>();
  if (value === undefined) return directives;
  const text = typeof value === "string" ? value : value.join(",");
  let i = 0;
  while (i < text.length) {
    const start = i;
    while (i < text.length && text[i] !== "," && text[i] !== "=") i++;
    const name = text.slice(start, i).trim().toLowerCase();
    let arg: string | true = true;
    if (text[i] === "=") {
      const read = readArgument(text, i + 1);
      arg = read.arg;
      i = read.end;
    }
    i++; // the comma
    if (!TOKEN.test(name)) continue;
    const previous = directives.get(name);
    directives.set(name, previous === undefined || previous === arg ? arg : "");
  }
  return directives;
}

/** An argument from `from` up to the next comma outside quotes; junk after a quote voids it. */
function readArgument(text: string, from: number): { arg: string; end: number } {
  let i = from;
  while (text[i] === " " || text[i] === "\t") i++;
  if (text[i] !== '"') {
    const start = i;
    while (i < text.length && text[i] !== ",") i++;
    return { arg: text.slice(start, i).trim(), end: i };
  }
  let arg = "";
  i++;
  while (i < text.length && text[i] !== '"') {
    if (text[i] === "\\" && i + 1 < text.length) i++;
    arg += text.charAt(i);
    i++;
  }
  const closed = i < text.length;
  i++;
  const trailing = i;
  while (i < text.length && text[i] !== ",") i++;
  const clean = closed && text.slice(trailing, i).trim() === "";
  return { arg: clean ? arg : "", end: i };
}

/** RFC 9111 §1.2.2: values too large to represent are read as 2^31 seconds. */
const MAX_DELTA_SECONDS = 2_147_483_648;

/**
 * A delta-seconds directive (`max-age`, `s-maxage`, …) in seconds; undefined when absent.
 * A present but invalid value (no argument, negative, not digits) is 0: invalid freshness
 * information makes a response stale (RFC 9111 §4.2.1), never fresh.
 */
export function deltaSeconds(directives: Directives, name: string): number | undefined {
  const arg = directives.get(name);
  if (arg === undefined) return undefined;
  return parseDeltaSeconds(arg === true ? "" : arg) ?? 0;
}

/** Non-negative integer seconds (Age, delta-seconds), or undefined when malformed. */
export function parseDeltaSeconds(text: string): number | undefined {
  if (!/^\d+$/.test(text)) return undefined;
  return Math.min(Number(text), MAX_DELTA_SECONDS);
}

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const MONTH = `(${MONTHS.join("|")})`;
const TIME = "(\\d{2}):(\\d{2}):(\\d{2})";
const IMF_FIXDATE = new RegExp(
  `^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), (\\d{2}) ${MONTH} (\\d{4}) ${TIME} GMT$`,
);
const RFC850 = new RegExp(
  `^(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday), (\\d{2})-${MONTH}-(\\d{2}) ${TIME} GMT$`,
);
const ASCTIME = new RegExp(
  `^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) ${MONTH} ([ \\d]\\d) ${TIME} (\\d{4})$`,
);

/**
 * An HTTP-date in ms since the epoch, or undefined. Only the three RFC 9110 forms are
 * accepted: `Date.parse` reads "0" or "1" as real dates, which would make an `Expires: 0`
 * response fresh for decades.
 */
export function parseHttpDate(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const value = text.trim();
  let m = IMF_FIXDATE.exec(value);
  if (m) return utc(m[3], m[2], m[1], m[4], m[5], m[6]);
  m = RFC850.exec(value);
  if (m) {
    // RFC 9110 §5.6.7 wants "more than 50 years in the future" read as the past; a fixed
    // pivot is close enough for a format nobody has sent in decades.
    const yy = Number(m[3]);
    return utc(String(yy < 70 ? 2000 + yy : 1900 + yy), m[2], m[1], m[4], m[5], m[6]);
  }
  m = ASCTIME.exec(value);
  if (m) return utc(m[6], m[1], m[2], m[3], m[4], m[5]);
  return undefined;
}

function utc(...parts: [string?, string?, string?, string?, string?, string?]): number | undefined {
  const [year, month, day, hour, minute, second] = parts;
  const monthIndex = MONTHS.indexOf(month ?? "");
  const [y, d, h, min, s] = [year, day, hour, minute, second].map((p) => Number(p?.trim()));
  if (y === undefined || d === undefined || h === undefined || min === undefined) return undefined;
  if (s === undefined || monthIndex < 0 || d < 1 || d > 31 || h > 23 || min > 59 || s > 60) {
    return undefined;
  }
  return Date.UTC(y, monthIndex, d, h, min, s);
}
