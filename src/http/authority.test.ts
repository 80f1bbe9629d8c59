import { describe, expect, it } from "vitest";
import { isAuthority } from "./authority.js";

describe("isAuthority", () => {
  it.each([
    "acme.orders.example",
    "acme.orders.example.",
    "acme.orders.example:15006",
    "localhost:0",
    "127.0.0.1:80",
    "[::1]",
    "[2001:db8::1]:443",
    "under_score.example",
    "1.2.3.4:8080",
    "a1.example",
    "1a.example",
    "10.0.0.1.",
  ])("accepts %s", (value) => {
    expect(isAuthority(value)).toBe(true);
  });

  it.each([
    "",
    ":80",
    "acme.orders.example:",
    "acme.orders.example:1@globex.orders.example",
    "user@acme.orders.example",
    "acme.orders.example:80:81",
    "acme.orders.example:65536",
    "acme.orders.example:+80",
    "globex.orders.example/:443",
    "globex.orders.example/x",
    "globex%2Eorders.example",
    "globex.orders.example\\x",
    "a,b",
    "a b",
    "a;b",
    "[::1",
    "[::1]x",
    "[::1%25eth0]",
    "[v1.fe]",
    "[127.0.0.1]",
    "::1",
    // Empty labels: an app that trims dots reads another host.
    "globex.orders.example..",
    "globex..orders.example",
    ".globex.orders.example",
    "..:80",
    // numeric-host-read-as-other-ip: a URL parser reads these as IPv4 addresses.
    "127.1",
    "127.0.0.01",
    "0x7f.0.0.1",
    "127.0u0.1",
    "1.2.3.4.5",
  ])("refuses %s", (value) => {
    expect(isAuthority(value)).toBe(false);
  });
});
