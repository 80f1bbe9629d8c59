/**
 * What in a config is a secret, decided by one rule over the whole document rather than a
 * list of fields, so that a key added later is covered without anyone remembering to:
 *
 * - every value of a `headers` map (an `Authorization` for a collector, an API key);
 * - every value whose key names a secret (`secret`, `password`, `token`, `apiKey`,
 *   `authorization`, `credentials`), except file paths (`…File`, `…Path`, `…Dir`);
 * - in every URL: the userinfo (`https://user:pass@host`), every query parameter's value
 *   (names stay: `?access_token=<redacted>`), and the fragment. Scheme, host, port and
 *   path stay readable, so an operator can still see where traffic goes.
 *
 * Certificate and key *paths* stay visible: they say which mounted file is in use, and
 * key material is never part of the config.
 */

export const REDACTED = "<redacted>";

const SECRET_KEY = /secret|passw|token|credential|api[-_]?key|authori[sz]ation/i;
const PATH_KEY = /(file|path|dir)$/i;
const URL_LIKE = /^[a-z][a-z0-9+.-]*:\/\//i;

/** A deep copy of `value` with every secret replaced by `<redacted>`. */
export function redactSecrets(value: unknown, key = ""): unknown {
  if (Array.isArray(value)) return value.map((v) => redactSecrets(v, key));
  if (value instanceof Date) return value;
  if (typeof value === "object" && value !== null) {
    const headers = key.toLowerCase() === "headers";
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [k, headers ? REDACTED : redactSecrets(v, k)]),
    );
  }
  if (typeof value !== "string") return value;
  if (SECRET_KEY.test(key) && !PATH_KEY.test(key)) return REDACTED;
  return URL_LIKE.test(value) ? redactUrl(value) : value;
}

/** `scheme://<redacted>@host:port/path?name=<redacted>#<redacted>`; unchanged when clean. */
export function redactUrl(text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    // Not parseable, so not used as a URL either; still, nothing after `?` or before `@`.
    return text.replace(/\/\/[^/?#]*@/, `//${REDACTED}@`).replace(/[?#].*$/s, `?${REDACTED}`);
  }
  const userinfo = url.username !== "" || url.password !== "";
  if (!userinfo && url.search === "" && url.hash === "") return text;
  const query = url.search
    .slice(1)
    .split("&")
    .map((pair) => {
      const eq = pair.indexOf("=");
      return eq < 0 ? REDACTED : `${pair.slice(0, eq)}=${REDACTED}`;
    })
    .join("&");
  return (
    `${url.protocol}//${userinfo ? `${REDACTED}@` : ""}${url.host}${url.pathname}` +
    `${url.search === "" ? "" : `?${query}`}${url.hash === "" ? "" : `#${REDACTED}`}`
  );
}
