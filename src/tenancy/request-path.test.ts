import { describe, expect, it } from "vitest";
import { canonicalPath, hasAsciiLookalike, type CanonicalPathRefusal } from "./request-path.js";

describe("canonicalPath accepts", () => {
  it.each([
    ["/", "/", [""], ""],
    ["/tenants/acme/reports", "/tenants/acme/reports", ["tenants", "acme", "reports"], ""],
    ["/tenants/acme/reports/", "/tenants/acme/reports/", ["tenants", "acme", "reports", ""], ""],
    ["/a?b=1&c=%2F..", "/a", ["a"], "?b=1&c=%2F.."],
    ["/a?", "/a", ["a"], "?"],
    ["/?x", "/", [""], "?x"],
    ["/files/report%20final.pdf", "/files/report%20final.pdf", ["files", "report%20final.pdf"], ""],
    ["/caf%C3%A9", "/caf%C3%A9", ["caf%C3%A9"], ""],
    ["/a/.well-known/x", "/a/.well-known/x", ["a", ".well-known", "x"], ""],
    ["/a/...", "/a/...", ["a", "..."], ""],
    ["/a/b.c/..d", "/a/b.c/..d", ["a", "b.c", "..d"], ""],
    ["/a;v=1/b", "/a;v=1/b", ["a;v=1", "b"], ""],
    ["/Tenants/ACME", "/Tenants/ACME", ["Tenants", "ACME"], ""],
    ["/a%25b", "/a%25b", ["a%25b"], ""],
    // The query decides nothing here: only raw control characters are refused in it.
    ["/a?x=%00&y=..%2f", "/a", ["a"], "?x=%00&y=..%2f"],
  ])("%s", (raw, path, segments, query) => {
    expect(canonicalPath(raw)).toEqual({ ok: true, path, segments, query });
  });

  it.each([
    "/caf%C3%A9",
    "/CAF%C3%89",
    "/%E6%97%A5%E6%9C%AC%E8%AA%9E",
    "/%D0%BE%D1%82%D1%87%D1%91%D1%82",
    "/%CE%91%CE%B8%CE%AE%CE%BD%CE%B1",
    "/na%C3%AFve",
    "/a%25C3%25A9",
  ])("encoded non-ASCII that no normalisation turns into ASCII: %s", (raw) => {
    expect(canonicalPath(raw)).toMatchObject({ ok: true, path: raw });
  });

  it("examines look-alikes in linear time, whatever the characters", () => {
    const chars = Array.from({ length: 4000 }, (_, i) => String.fromCodePoint(0x4e00 + i));
    const raw = "/" + encodeURIComponent(chars.join(""));
    canonicalPath("/%E6%97%A5"); // loads Unicode data once
    const started = performance.now();
    expect(canonicalPath(raw)).toMatchObject({ ok: true });
    expect(canonicalPath(raw + "%EF%BC%8E")).toEqual({ ok: false, reason: "unicode_lookalike" });
    // A few ms in practice; the bound only catches a per-character blow-up (seconds).
    expect(performance.now() - started).toBeLessThan(1_000);
  });

  it("leaves percent-encodings undecoded", () => {
    const result = canonicalPath("/tenants/%61cme");
    expect(result.ok && result.segments).toEqual(["tenants", "%61cme"]);
  });

  it("handles long paths in linear time", () => {
    const raw = "/" + Array.from({ length: 4000 }, (_, i) => `s${i}`).join("/");
    // The best of three: a busy machine only ever adds time, so the fastest run is the
    // code's own, and a quadratic blow-up still misses the bound on every run.
    const runs = [0, 1, 2].map(() => {
      const started = performance.now();
      canonicalPath(raw);
      return performance.now() - started;
    });
    expect(Math.min(...runs)).toBeLessThan(50);
    const result = canonicalPath(raw);
    expect(result.ok && result.segments.length).toBe(4000);
    expect(canonicalPath(raw + "/..")).toEqual({ ok: false, reason: "dot_segment" });
    expect(canonicalPath("/" + "a".repeat(16_000))).toMatchObject({ ok: true });
  });
});

describe("canonicalPath refuses", () => {
  const table: [string, CanonicalPathRefusal][] = [
    // Dot segments, plain and disguised.
    ["/tenants/acme/../globex", "dot_segment"],
    ["/tenants/acme/./x", "dot_segment"],
    ["/..", "dot_segment"],
    ["/.", "dot_segment"],
    ["/a/..", "dot_segment"],
    ["/a/../", "dot_segment"],
    ["/a/..;/b", "dot_segment"],
    ["/a/..;jsessionid=1/b", "dot_segment"],
    ["/a/.;/b", "dot_segment"],
    ["/a/..%3b/b", "encoded_separator"],
    ["/a/..%20/b", "dot_segment"],
    ["/a/..?x", "dot_segment"],
    // Encoded separators and dots, either case, also double-encoded.
    ["/tenants/acme%2Fglobex", "encoded_separator"],
    ["/tenants/acme%2fglobex", "encoded_separator"],
    ["/tenants/%2e%2e/globex", "encoded_separator"],
    ["/tenants/%2E%2E/globex", "encoded_separator"],
    ["/tenants/.%2e/globex", "encoded_separator"],
    ["/tenants/%2e./globex", "encoded_separator"],
    ["/a%5cb", "encoded_separator"],
    ["/a%5Cb", "encoded_separator"],
    ["/a/b.%2ejson", "encoded_separator"],
    ["/tenants/%252e%252e/globex", "encoded_separator"],
    ["/tenants/acme%252Fglobex", "encoded_separator"],
    ["/tenants/%25%32%65%25%32%65/x", "encoded_separator"],
    ["/tenants/%25252f", "encoded_separator"],
    ["/a%2500", "control_char"],
    // Empty segments.
    ["//", "empty_segment"],
    ["//tenants/acme", "empty_segment"],
    ["/tenants//acme", "empty_segment"],
    ["/tenants/acme//", "empty_segment"],
    // path-parameter-hides-empty-segment: Tomcat strips `;…` and merges the slashes.
    ["/;/tenants/acme", "empty_segment"],
    ["/;x=1/tenants/acme/orders", "empty_segment"],
    ["/tenants/acme/;../globex", "empty_segment"],
    // semicolon-last-segment-widens-star-grant: `/reports/;x` is `/reports/` to Tomcat.
    ["/tenants/globex/reports/;x", "empty_segment"],
    ["/tenants/globex/reports/;jsessionid=1", "empty_segment"],
    // encoded-semicolon-splits-segment: a router that decodes first strips `;x` there.
    ["/tenants%3Bx/globex/x", "encoded_separator"],
    ["/%3bx=1/tenants/globex/x", "encoded_separator"],
    ["/tenants%253Bx/globex/x", "encoded_separator"],
    // Backslashes.
    ["/tenants\\acme", "backslash"],
    ["/tenants/acme\\..\\globex", "backslash"],
    ["\\tenants", "not_origin_form"],
    // Control characters, raw and encoded.
    ["/a%00", "control_char"],
    ["/a%00b/c", "control_char"],
    ["/a\u0000b", "control_char"],
    ["/a\r\nx-palisade-tenant: acme", "control_char"],
    ["/a\tb", "control_char"],
    ["/a%0d%0a", "control_char"],
    ["/a%7F", "control_char"],
    ["/a\u007f", "control_char"],
    ["/a?x=\r\n", "control_char"],
    // Not origin form, or not a valid request target.
    ["", "not_origin_form"],
    ["*", "not_origin_form"],
    ["tenants/acme", "not_origin_form"],
    ["http://orders/tenants/acme", "not_origin_form"],
    ["?x", "not_origin_form"],
    ["/a b", "not_origin_form"],
    ["/a#frag", "not_origin_form"],
    ["/caf\u00e9", "not_origin_form"],
    ["/a\u2215b", "not_origin_form"],
    ["/a%", "not_origin_form"],
    ["/a%2", "not_origin_form"],
    ["/a%2?x", "not_origin_form"],
    ["/a%zz", "not_origin_form"],
    // Encoded bytes that are not UTF-8: overlong `.` and `/`, lone continuation bytes.
    ["/a/%c0%ae%c0%ae/b", "not_origin_form"],
    ["/a%c0%af", "not_origin_form"],
    ["/a%e0%80%ae", "not_origin_form"],
    ["/a%80", "not_origin_form"],
    ["/a%ed%a0%80", "not_origin_form"],
    // Double-encoded bytes that are not UTF-8 once decoded twice.
    ["/a/%25c0%25ae%25c0%25ae/b", "not_origin_form"],
    // Encoded non-ASCII that NFKC or a case mapping turns into ASCII.
    ["/%EF%BD%94%EF%BD%85%EF%BD%8E%EF%BD%81%EF%BD%8E%EF%BD%94%EF%BD%93/acme", "unicode_lookalike"],
    ["/tenant%C5%BF/acme", "unicode_lookalike"],
    // invisible-character-joins-literal: NFKC_Casefold drops default-ignorable characters.
    ["/tenant%C2%ADs/globex/x", "unicode_lookalike"],
    ["/tenants/globex/reports/%E2%80%8B", "unicode_lookalike"],
    ["/tenant%CD%8Fs/globex/x", "unicode_lookalike"],
    ["/tenant%E2%81%A0s/globex/x", "unicode_lookalike"],
    ["/tenant%EF%BB%BFs/globex/x", "unicode_lookalike"],
    ["/tenant%EF%B8%8Fs/globex/x", "unicode_lookalike"],
    ["/tenants/globex/%EF%BC%8E%EF%BC%8E/acme", "unicode_lookalike"],
    ["/tenants/globex%EF%BC%8F..%EF%BC%8Facme", "unicode_lookalike"],
    ["/%EF%BC%8Ftenants/acme", "unicode_lookalike"],
    ["/a/%E2%80%A4%E2%80%A4/b", "unicode_lookalike"],
    ["/a/%E2%80%A5/b", "unicode_lookalike"],
    ["/a/%EF%B9%92%EF%B9%92/b", "unicode_lookalike"],
    ["/a/%E2%80%A6/b", "unicode_lookalike"],
    ["/a%EF%BC%BCb", "unicode_lookalike"],
    ["/a/%EF%BC%852e%EF%BC%852e/b", "unicode_lookalike"],
    ["/a%EF%B9%96x", "unicode_lookalike"],
    ["/a%EF%BC%83x", "unicode_lookalike"],
    ["/a%E2%84%80", "unicode_lookalike"],
    ["/tenants/%E2%84%AAelvin", "unicode_lookalike"],
    ["/%C4%B1tems", "unicode_lookalike"],
    ["/%C4%B0tems", "unicode_lookalike"],
    ["/stra%C3%9Fe", "unicode_lookalike"],
    ["/%E1%BA%9E", "unicode_lookalike"],
    ["/%EF%AC%81le", "unicode_lookalike"],
    ["/v%C2%B2", "unicode_lookalike"],
    ["/%25EF%25BD%2594enants/acme", "unicode_lookalike"],
    ["/a/%25EF%25BC%258E%25EF%25BC%258E/b", "unicode_lookalike"],
    ["/a/%252525EF%252525BC%2525258E", "unicode_lookalike"],
    // More layers than any real client sends: refused without looking further.
    ["/a/%25252525EF%25252525BC%252525258E", "encoded_separator"],
  ];

  it.each(table)("%j → %s", (raw, reason) => {
    expect(canonicalPath(raw)).toEqual({ ok: false, reason });
  });
});

describe("hasAsciiLookalike", () => {
  it.each([
    ["ｔ", true],
    ["／", true],
    ["ſ", true],
    ["\u212a", true],
    ["ß", true],
    ["ı", true],
    ["é", false],
    ["É", false],
    ["日本", false],
    ["", false],
    ["plain ascii", false],
  ])("%j → %s", (text, expected) => {
    expect(hasAsciiLookalike(text)).toBe(expected);
  });
});
