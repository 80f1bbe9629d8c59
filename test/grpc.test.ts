/**
 * gRPC through the inbound sidecar, with real `@grpc/grpc-js` clients and server: the
 * client speaks h2 over mTLS to Palisade, Palisade speaks h2c to the app
 * (`inbound.appProtocol: h2c`). Unary and bidirectional streaming pass with their trailers;
 * a cross-tenant call is PERMISSION_DENIED before the server sees it; a deadline reaches
 * the server as a cancellation.
 */
import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventually } from "./support/eventually.js";
import {
  baseConfig,
  makePki,
  startSidecar,
  TRUST_DOMAIN,
  type Pki,
  type RunningSidecar,
} from "./support/mesh.js";

const bytes = (b: Buffer) => b;
function method(name: string, requestStream: boolean, responseStream: boolean) {
  return {
    path: `/palisade.test.Echo/${name}`,
    requestStream,
    responseStream,
    requestSerialize: bytes,
    requestDeserialize: bytes,
    responseSerialize: bytes,
    responseDeserialize: bytes,
  };
}
const ECHO = {
  unary: method("Unary", false, false),
  chat: method("Chat", true, true),
  slow: method("Slow", false, false),
  fail: method("Fail", false, false),
};

/** Calls the server saw, by method; and whether a slow call saw its cancellation. */
const calls: string[] = [];
let slowCancelled = false;

let pki: Pki;
let server: grpc.Server;
let orders: RunningSidecar;
/** The calling pod's sidecar: its app speaks h2c to the outbound listener. */
let web: RunningSidecar;

beforeAll(async () => {
  pki = await makePki(["acme", "globex"], ["orders", "web"]);
  server = new grpc.Server();
  server.addService(ECHO, {
    unary: (call: grpc.ServerUnaryCall<Buffer, Buffer>, done: grpc.sendUnaryData<Buffer>) => {
      calls.push("unary");
      const tenant = String(call.metadata.get("x-palisade-tenant")[0]);
      done(null, Buffer.from(`${tenant}:${call.request.toString()}`));
    },
    chat: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => {
      calls.push("chat");
      call.on("data", (m: Buffer) => call.write(Buffer.from(`re:${m.toString()}`)));
      call.on("end", () => call.end());
    },
    fail: (_call: unknown, done: grpc.sendUnaryData<Buffer>) =>
      done({ code: grpc.status.NOT_FOUND, details: "no such order" }),
    slow: (call: grpc.ServerUnaryCall<Buffer, Buffer>) => {
      calls.push("slow");
      call.on("cancelled", () => (slowCancelled = true));
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
  const config = baseConfig(pki, "orders", ["acme", "globex"], `http://127.0.0.1:${port}`) as {
    inbound: Record<string, unknown>;
  };
  config.inbound["appProtocol"] = "h2c";
  // gRPC paths name no tenant: the target, when there is one, is a metadata header.
  config.inbound["target"] = { header: "x-target-tenant" };
  orders = await startSidecar(config);
  const webConfig = baseConfig(pki, "web", ["acme", "globex"], "http://127.0.0.1:9") as {
    outbound: Record<string, unknown>;
  };
  // No inbound request hands this test's app a signed context: it names the tenant plainly.
  webConfig.outbound["allowUnsignedTenant"] = true;
  webConfig.outbound["upstreams"] = {
    orders: { url: orders.inbound, target: { header: "x-target-tenant" } },
  };
  web = await startSidecar(webConfig);
});

afterAll(async () => {
  await web?.stop();
  await orders?.stop();
  server?.forceShutdown();
});

type Echo = grpc.Client & {
  unary(m: Buffer, md: grpc.Metadata, o: grpc.CallOptions, cb: grpc.requestCallback<Buffer>): void;
  chat(metadata?: grpc.Metadata): grpc.ClientDuplexStream<Buffer, Buffer>;
  slow(m: Buffer, md: grpc.Metadata, o: grpc.CallOptions, cb: grpc.requestCallback<Buffer>): void;
  fail(m: Buffer, md: grpc.Metadata, o: grpc.CallOptions, cb: grpc.requestCallback<Buffer>): void;
};

/**
 * Three rounds on a bidirectional `chat` call, the next message sent only after the answer
 * to the last, so both directions are live; the call's status and what came back.
 */
async function pingPong(
  call: grpc.ClientDuplexStream<Buffer, Buffer>,
): Promise<{ status: grpc.StatusObject; received: string[] }> {
  const received: string[] = [];
  const status = new Promise<grpc.StatusObject>((resolve) => call.on("status", resolve));
  call.on("data", (m: Buffer) => {
    received.push(m.toString());
    if (received.length < 3) call.write(Buffer.from(`m${received.length}`));
    else call.end();
  });
  call.write(Buffer.from("m0"));
  return { status: await status, received };
}
const EchoClient = grpc.makeGenericClientConstructor(ECHO, "Echo") as unknown as new (
  address: string,
  credentials: grpc.ChannelCredentials,
  options: grpc.ChannelOptions,
) => Echo;

async function clientAs(tenant: string): Promise<Echo> {
  const credentials = grpc.credentials.createSsl(
    Buffer.from(await pki.ca(tenant)),
    Buffer.from(await pki.key(tenant, "web")),
    Buffer.from(await pki.cert(tenant, "web")),
    // The server's SVID has a URI SAN only; Palisade matches the SNI name itself.
    { checkServerIdentity: () => undefined },
  );
  const name = `${tenant}.orders.${TRUST_DOMAIN}`;
  return new EchoClient(new URL(orders.inbound).host, credentials, {
    "grpc.ssl_target_name_override": name,
    "grpc.default_authority": name,
  });
}

function unary(client: Echo, text: string, metadata = new grpc.Metadata()): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    client.unary(Buffer.from(text), metadata, {}, (err, value) =>
      err ? reject(err) : resolve(value as Buffer),
    ),
  );
}

describe("gRPC through the inbound sidecar", () => {
  it("unary: the answer and its OK status come back; the app sees the proved tenant", async () => {
    const client = await clientAs("acme");
    try {
      expect((await unary(client, "hello")).toString()).toBe("acme:hello");
    } finally {
      client.close();
    }
    // OK came in the trailers; it is recorded once they have passed.
    await eventually(
      () =>
        orders.logs.some(
          (l) => l["path"] === "/palisade.test.Echo/Unary" && l["grpcStatus"] === grpc.status.OK,
        ),
      "the access line with grpcStatus 0",
    );
  });

  it("bidirectional streaming: messages flow both ways, interleaved, then OK", async () => {
    const client = await clientAs("acme");
    try {
      const { status, received } = await pingPong(client.chat());
      expect(status.code).toBe(grpc.status.OK);
      expect(received).toEqual(["re:m0", "re:m1", "re:m2"]);
    } finally {
      client.close();
    }
  });

  it("the app's own error status passes through unchanged (trailers-only)", async () => {
    const client = await clientAs("acme");
    try {
      const err = await new Promise<grpc.ServiceError>((resolve) =>
        client.fail(Buffer.from("x"), new grpc.Metadata(), {}, (e) =>
          resolve(e as grpc.ServiceError),
        ),
      );
      expect([err.code, err.details]).toEqual([grpc.status.NOT_FOUND, "no such order"]);
    } finally {
      client.close();
    }
    // The call's gRPC outcome is on its access line (and span), not only its HTTP 200.
    const line = orders.logs.findLast(
      (l) => l.log === "access" && l["path"] === "/palisade.test.Echo/Fail",
    );
    expect(line).toMatchObject({ status: 200, grpcStatus: grpc.status.NOT_FOUND });
  });

  it("cross-tenant: PERMISSION_DENIED with the Palisade code, before the server sees it", async () => {
    const client = await clientAs("globex");
    const before = calls.length;
    try {
      const metadata = new grpc.Metadata();
      metadata.set("x-target-tenant", "acme");
      const err = (await unary(client, "steal", metadata).catch(
        (e: unknown) => e,
      )) as grpc.ServiceError;
      expect(err.code).toBe(grpc.status.PERMISSION_DENIED);
      expect(err.details).toBe("cross_tenant_denied");
    } finally {
      client.close();
    }
    expect(calls.length).toBe(before);
  });

  it("a deadline is honoured: DEADLINE_EXCEEDED, and the app sees the call cancelled", async () => {
    const client = await clientAs("acme");
    try {
      const err = await new Promise<grpc.ServiceError>((resolve) =>
        client.slow(Buffer.from("x"), new grpc.Metadata(), { deadline: Date.now() + 300 }, (e) =>
          resolve(e as grpc.ServiceError),
        ),
      );
      expect(err.code).toBe(grpc.status.DEADLINE_EXCEEDED);
      await eventually(() => slowCancelled, "the app's call cancelled");
    } finally {
      client.close();
    }
  });
});

describe("gRPC through two sidecars: app → outbound (h2c) → inbound (h2, mTLS) → app (h2c)", () => {
  /** The calling app's client: plain h2c to its own sidecar, naming the upstream by authority. */
  function viaOutbound(): Echo {
    return new EchoClient(new URL(web.outbound).host, grpc.credentials.createInsecure(), {
      "grpc.default_authority": "orders",
    });
  }
  const as = (tenant: string, target?: string): grpc.Metadata => {
    const metadata = new grpc.Metadata();
    metadata.set("x-palisade-tenant", tenant);
    if (target) metadata.set("x-target-tenant", target);
    return metadata;
  };

  it("unary and bidirectional streaming, same tenant", async () => {
    const client = viaOutbound();
    try {
      expect((await unary(client, "two hops", as("acme"))).toString()).toBe("acme:two hops");
      const { status, received } = await pingPong(client.chat(as("acme")));
      expect(status.code).toBe(grpc.status.OK);
      expect(received).toEqual(["re:m0", "re:m1", "re:m2"]);
    } finally {
      client.close();
    }
  });

  it("cross-tenant is PERMISSION_DENIED at the calling sidecar, before the server", async () => {
    const client = viaOutbound();
    const before = calls.length;
    try {
      const err = (await unary(client, "steal", as("globex", "acme")).catch(
        (e: unknown) => e,
      )) as grpc.ServiceError;
      expect([err.code, err.details]).toEqual([
        grpc.status.PERMISSION_DENIED,
        "cross_tenant_denied",
      ]);
    } finally {
      client.close();
    }
    expect(calls.length).toBe(before);
  });
});
