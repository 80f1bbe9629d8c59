/**
 * The request's authority (`Host`, or an absolute-form target's): accepted only in the
 * RFC 3986 grammar, so that Palisade and the app's URL parser cannot read two hosts.
 */
import { isIPv4, isIPv6 } from "node:net";

const PORT = /^\d{1,5}$/;
const REG_NAME = /^[A-Za-z0-9._~-]+$/;
/** What WHATWG URL parsing reads as a number: decimal, or hex with `0x`. */
const NUMERIC_LABEL = /^(?:\d+|0x[0-9a-f]*)$/i;
/** IPv6 text without a zone id (RFC 6874's `%25` form is not part of `host`). */
const IPV6_CHARS = /^[0-9A-Fa-f:.]+$/;

/**
 * DESIGN.md "Authority": `host [":" port]` of RFC 3986, with a reg-name limited to its
 * unreserved characters. Percent-encoding and sub-delimiters are refused too: a URL
 * parser decodes `%2E` and some frameworks split on `,`, so either could show the app a
 * host Palisade never read. Userinfo (`a:1@b`), paths, zone ids and empty labels are
 * malformed.
 */
export function isAuthority(value: string): boolean {
  let host = value;
  const close = value.startsWith("[") ? value.indexOf("]") : -1;
  const colon = close === -1 ? value.indexOf(":") : value.indexOf(":", close);
  if (colon !== -1) {
    const port = value.slice(colon + 1);
    if (!PORT.test(port) || Number(port) > 65535) return false;
    host = value.slice(0, colon);
  }
  if (host.startsWith("[")) {
    const inside = host.slice(1, -1);
    return host.endsWith("]") && IPV6_CHARS.test(inside) && isIPv6(inside);
  }
  // No empty label (`a..b`, `.a`, `a..`): only one trailing dot, the absolute form, is a
  // name; an app that trims dots would read `globex.orders.example..` as another host.
  if (!REG_NAME.test(host) || host.startsWith(".") || host.includes("..")) return false;
  // A name whose last label is a number is an IPv4 address to a WHATWG URL parser (`127.1`,
  // `0x7f.1`, `1.2.3.04`): accepted only as the canonical dotted quad both sides agree on.
  const name = host.endsWith(".") ? host.slice(0, -1) : host;
  return !NUMERIC_LABEL.test(name.slice(name.lastIndexOf(".") + 1)) || isIPv4(name);
}
