/**
 * An HTTP/2 client session to a sidecar's inbound listener, over mTLS as one tenant's
 * service, with the SNI that selects the `orders` sidecar's certificate for that tenant.
 */
import { once } from "node:events";
import { connect, type ClientHttp2Session } from "node:http2";
import { TRUST_DOMAIN, type Pki } from "./mesh.js";

export async function h2Session(
  pki: Pki,
  inbound: string,
  tenant: string,
  options: { service?: string; waitForSettings?: boolean } = {},
): Promise<ClientHttp2Session> {
  const service = options.service ?? "web";
  const session = connect(inbound, {
    cert: await pki.cert(tenant, service),
    key: await pki.key(tenant, service),
    ca: await pki.ca(tenant),
    servername: `${tenant}.orders.${TRUST_DOMAIN}`,
    checkServerIdentity: () => undefined,
  });
  session.on("error", () => {});
  // Extended CONNECT may be sent only once the server's SETTINGS allowed it.
  if (options.waitForSettings === true) await once(session, "remoteSettings");
  return session;
}
