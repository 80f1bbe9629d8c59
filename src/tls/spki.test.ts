import { generateKeyPairSync, type KeyObject } from "node:crypto";
import { describe, expect, it } from "vitest";
import { spkiDer } from "./spki.js";

const openssl = (key: KeyObject) => key.export({ type: "spki", format: "der" });

describe("spkiDer: the same bytes as OpenSSL's SPKI export", () => {
  it.each([
    ["RSA 1024, e=3", () => generateKeyPairSync("rsa", { modulusLength: 1024, publicExponent: 3 })],
    ["RSA 2048", () => generateKeyPairSync("rsa", { modulusLength: 2048 })],
    [
      "RSA 1032 (length crosses a byte boundary), e=71143",
      () => generateKeyPairSync("rsa", { modulusLength: 1032, publicExponent: 71143 }),
    ],
    ["EC P-256", () => generateKeyPairSync("ec", { namedCurve: "P-256" })],
    ["EC P-384", () => generateKeyPairSync("ec", { namedCurve: "P-384" })],
    ["EC P-521", () => generateKeyPairSync("ec", { namedCurve: "P-521" })],
    ["Ed25519", () => generateKeyPairSync("ed25519")],
    ["Ed448", () => generateKeyPairSync("ed448")],
    // Not built here: left to OpenSSL, which must still answer.
    ["EC secp256k1", () => generateKeyPairSync("ec", { namedCurve: "secp256k1" })],
    ["RSA-PSS", () => generateKeyPairSync("rsa-pss", { modulusLength: 1024 })],
  ])("%s", (_, make) => {
    // Several keys each: EC coordinates and RSA moduli with a leading zero byte turn up.
    for (let i = 0; i < 4; i++) {
      const { publicKey } = make();
      expect(spkiDer(publicKey).toString("hex")).toBe(openssl(publicKey).toString("hex"));
    }
  });
});
