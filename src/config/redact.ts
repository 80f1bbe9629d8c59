/**
 * What in a config is a secret, decided by one rule over the whole document rather than a
 * list of fields, so that a key added later is covered without anyone remembering to.
 * A value's key path (every ancestor, e.g. `telemetry.otlp.headers.x-api`) decides first:
 *
 * - everything in a `headers` map (an `Authorization` for a collector, an API key);
 * - everything under a key that names a secret (`secret`, `password`, `token`, `apiKey`,
 *   `authorization`, `credentials`), except file paths (`…File`, `…Path`, `…Dir`).
 *
 * Then, in every other string, whatever would be secret were it a URL, however misspelt
 * (`https:user:pass@host`, `host/?token=…`): the userinfo, every query parameter's value
 * (names stay: `?access_token=<redacted>`), path parameters (`;jsessionid=<redacted>`)
 * and the fragment. Scheme, host, port and path stay readable, so an operator can still
 * see where traffic goes.
 *
 * A *rejected* value (config errors: `palisade check`, the refused-reload log line) did not
 * prove it is what its key says, so a stricter rule applies: it is echoed only when it is
 * provably harmless (`describeRejected`), never because it looks like something else.
 *
 * Certificate and key *paths* stay visible: they say which mounted file is in use, and
 * key material is never part of the config.
 */

export const REDACTED = "<redacted>";

/** A key path as zod and YAML give it: object keys, array indices. */
export type KeyPath = readonly PropertyKey[];

const SECRET_KEY = /secret|passw|token|credential|api[-_]?key|authori[sz]ation/i;
const PATH_KEY = /(file|path|dir)$/i;
const URL_LIKE = /^[a-z][a-z0-9+.-]*:\/\//i;
/** Everything up to the last `@` that something follows: userinfo, however spelt. */
const USERINFO = /^.*@(?=\S)/s;
/** A query or fragment, wherever it starts. */
const QUERY = /[?#].*$/s;
/**
 * Short, and none of what separates a credential from the rest of a URL or a header; no
 * control characters either: a key is printed as it is, and could drive the terminal.
 */
const HARMLESS = /^[^\s\p{Cc}@:/?#=&%]{0,64}$/u;
/** Path parameters (`/app;jsessionid=…`): a session id, as good as a password. */
const PATH_PARAMS = /;[^/]*/g;

/**
 * Whether every value at `path` is a secret, whatever it looks like. A header map's values
 * are below `headers`; a value *at* a `headers` key is one only where a map belongs
 * (`inbound.timeouts.headers` is a duration): the caller then asks about `[...path, ""]`.
 */
export function isSecretPath(path: KeyPath): boolean {
  const keys = path.filter((k): k is string => typeof k === "string");
  if (keys.slice(0, -1).some((k) => k.toLowerCase() === "headers")) return true;
  // A file path says which mounted file is in use, even under a secret-named key.
  if (PATH_KEY.test(keys.at(-1) ?? "")) return false;
  return keys.some((k) => SECRET_KEY.test(k));
}

/** A deep copy of `value` (found at `path`) with every secret replaced by `<redacted>`. */
export function redactSecrets(value: unknown, path: KeyPath = []): unknown {
  if (Array.isArray(value)) return value.map((v, i) => redactSecrets(v, [...path, i]));
  if (value instanceof Date) return value;
  if (typeof value === "object" && value !== null) {
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [k, redactSecrets(v, [...path, k])]),
    );
  }
  // A boolean or null says nothing secret; a number may be an unquoted API key.
  if (typeof value === "boolean" || value === null || value === undefined) return value;
  if (isSecretPath(path)) return REDACTED;
  return typeof value === "string" ? redactUrlish(value) : value;
}

/**
 * A string with the secret parts of a URL hidden, URL or not: a value that is not a
 * well-formed URL may still be one to whoever reads it (`https:user:pass@host`).
 */
export function redactUrlish(text: string): string {
  const trimmed = text.trim();
  if (URL_LIKE.test(trimmed)) return redactUrl(trimmed);
  return text.replace(USERINFO, `${REDACTED}@`).replace(QUERY, `?${REDACTED}`);
}

/** `scheme://<redacted>@host:port/path;<redacted>?name=<redacted>#<redacted>`; or as written. */
export function redactUrl(text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    // Not parseable, so not used as a URL either; still, nothing after `?` or before `@`.
    return text.replace(/\/\/[^/?#]*@/, `//${REDACTED}@`).replace(QUERY, `?${REDACTED}`);
  }
  const userinfo = url.username !== "" || url.password !== "";
  const params = url.pathname.includes(";");
  if (!userinfo && !params && url.search === "" && url.hash === "") return text;
  const path = url.pathname.replace(PATH_PARAMS, `;${REDACTED}`);
  const query = url.search
    .slice(1)
    .split("&")
    .map((pair) => {
      const eq = pair.indexOf("=");
      return eq < 0 ? REDACTED : `${pair.slice(0, eq)}=${REDACTED}`;
    })
    .join("&");
  return (
    `${url.protocol}//${userinfo ? `${REDACTED}@` : ""}${url.host}${path}` +
    `${url.search === "" ? "" : `?${query}`}${url.hash === "" ? "" : `#${REDACTED}`}`
  );
}

/** A config string as `/config` shows it: for messages that quote an accepted value. */
export function redactText(text: string, path: KeyPath): string {
  return redactSecrets(text, path) as string;
}

/**
 * A file name that could not be read, shown only when every segment is harmless: a key or
 * certificate pasted inline (`key: "-----BEGIN PRIVATE KEY-----…"`) is not a file name,
 * and the error that says so must not carry it.
 */
export function describeFileName(name: string): string {
  const harmless = name.length <= 255 && name.split("/").every(isHarmless);
  return harmless ? name : `<redacted, ${name.length} chars>`;
}

/** Whether `text` may be shown in an error whatever it was meant to be. */
export function isHarmless(text: string): boolean {
  return HARMLESS.test(text);
}

/** What a rejected value was expected to be, as far as it changes what may be shown. */
export interface Expected {
  /** A URL: one that did not parse can hold userinfo in any spelling. */
  url?: boolean;
  /** A map or list: a value written in its place stands for its entries (`headers: "a=b"`). */
  collection?: boolean;
}

/**
 * `got "http3"`, or what a rejected value is without showing it: `got <redacted, 33
 * chars>`, `got a number`, `got an array`, `missing`. See `showRejected`; arrays and
 * objects are never shown: an element may be secret.
 */
export function describeRejected(value: unknown, path: KeyPath, expected: Expected = {}): string {
  if (value === undefined) return "missing";
  if (value === null || typeof value === "boolean") return `got ${String(value)}`;
  if (typeof value === "number") {
    const shown = showRejected(String(value), path, expected);
    return shown.startsWith("<") ? "got a number" : `got ${value}`;
  }
  return typeof value === "string"
    ? `got ${showRejected(value, path, expected)}`
    : `got ${kindOf(value)}`;
}

/**
 * `"http3"` (quoted), or `<redacted, N chars>`. A rejected value is shown only when it is
 * short, holds nothing that separates a credential from a URL or a header, is not under a
 * secret path (`headers`, a secret-named key) and was not meant as a URL.
 */
export function showRejected(text: string, path: KeyPath, expected: Expected = {}): string {
  const at = expected.collection === true ? [...path, ""] : path;
  const harmless = expected.url !== true && !isSecretPath(at) && isHarmless(text);
  return harmless ? JSON.stringify(text) : `<redacted, ${text.length} chars>`;
}

/**
 * `telemetry.otlp.headers.x-api`; a key that is not harmless is `<redacted>`: a YAML key
 * can hold a value (`{alertmanager:https://user:pass@host}` is one key, no value).
 */
export function describePath(path: KeyPath): string {
  if (path.length === 0) return "(root)";
  return path.map((k) => describeKey(k)).join(".");
}

/** One key of a key path, as `describePath` shows it. */
export function describeKey(key: PropertyKey): string {
  const text = String(key);
  return isHarmless(text) ? text : REDACTED;
}

function kindOf(value: unknown): string {
  if (Array.isArray(value)) return "an array";
  if (value instanceof Date) return "a date";
  return typeof value === "object" ? "an object" : `a ${typeof value}`;
}
