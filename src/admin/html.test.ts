import { describe, expect, it } from "vitest";
import { escapeHtml, row } from "./html.js";

describe("HTML escaping", () => {
  it("escapes every character that can end a text node or an attribute", () => {
    expect(escapeHtml(`"><script>alert('x')</script>&`)).toBe(
      "&quot;&gt;&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;",
    );
  });

  it("shows an absent value as `-`", () => {
    expect(row([undefined, null, 0])).toBe("<tr><td>-</td><td>-</td><td>0</td></tr>");
  });
});
