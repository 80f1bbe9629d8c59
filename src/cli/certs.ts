/** `palisade certs init`: a development PKI with node-forge. */
import { idList, parseFlags, positiveInteger, required } from "./flags.js";

export async function main(args: string[]): Promise<number> {
  const { values } = parseFlags(args, {
    out: { type: "string", default: "pki" },
    "trust-domain": { type: "string", default: "mesh.local" },
    tenants: { type: "string" },
    services: { type: "string" },
    days: { type: "string", default: "365" },
  });
  const tenants = idList(required(values.tenants, "--tenants"), "--tenants");
  const services = idList(required(values.services, "--services"), "--services");
  // Past 100 years an X.509 validity is a mistake, not a choice.
  const days = positiveInteger(values.days, "--days", 36_500);
  const { initDevPki } = await import("../tls/dev-pki.js");
  const result = await initDevPki({
    out: values.out,
    trustDomain: values["trust-domain"],
    tenants,
    services,
    days,
  });
  process.stdout.write(
    `wrote a development PKI to ${values.out}: ${JSON.stringify(result.files)}\n`,
  );
  return 0;
}
