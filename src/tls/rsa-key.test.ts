import { createPrivateKey, generateKeyPairSync } from "node:crypto";
import { describe, expect, it } from "vitest";
import { readRsaPrivateKey } from "./rsa-key.js";

const rsa = generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey;
const pkcs8 = rsa.export({ type: "pkcs8", format: "pem" }) as string;
const pkcs1 = rsa.export({ type: "pkcs1", format: "pem" }) as string;

describe("readRsaPrivateKey", () => {
  it.each([
    ["PKCS#8", pkcs8],
    ["PKCS#1", pkcs1],
    ["PKCS#8 with CRLF line ends", pkcs8.replace(/\n/g, "\r\n")],
  ])("reads %s as the same key OpenSSL reads", (_, pem) => {
    const key = readRsaPrivateKey(pem);
    expect(key?.type).toBe("private");
    expect(key?.export({ format: "jwk" })).toEqual(createPrivateKey(pem).export({ format: "jwk" }));
    expect(key?.asymmetricKeyDetails?.modulusLength).toBe(2048);
  });

  it.each([
    [
      "an EC key",
      generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey.export({
        type: "pkcs8",
        format: "pem",
      }),
    ],
    [
      "an encrypted key",
      rsa.export({ type: "pkcs8", format: "pem", cipher: "aes-128-cbc", passphrase: "x" }),
    ],
    ["two keys in one file", pkcs8 + pkcs8],
    ["text after the key", `${pkcs8}trailing`],
    ["text before the key", `junk\n${pkcs8}`],
    ["a body that is not base64", pkcs8.replace(/\n[A-Za-z0-9+/]{8}/, "\n!!!!!!!!")],
    ["a truncated body", pkcs8.slice(0, 400) + pkcs8.slice(pkcs8.indexOf("-----END"))],
    ["a certificate", "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"],
    ["nothing", ""],
  ])("leaves %s to OpenSSL", (_, pem) => {
    expect(readRsaPrivateKey(pem as string)).toBeUndefined();
  });
});
