import { createServer, request, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { Readable } from "node:stream";
import { expect, it } from "vitest";
import { writeResponse } from "./forward.js";

it("response-to-departed-client-never-settles: writing to a closed response rejects at once", async () => {
  let settle: (outcome: string) => void = () => {};
  const outcome = new Promise<string>((resolve) => (settle = resolve));
  const body = new Readable({ read() {} });
  const server = createServer((_req, res: ServerResponse) => {
    // Like a coalesced cache miss whose client left while it waited for the leader.
    res.once("close", () => {
      writeResponse(res, { statusCode: 200, headers: {}, body }, {}, { bytesOut: 0 }).then(
        () => settle("resolved"),
        (err: unknown) => settle(`rejected: ${(err as Error).message}`),
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const client = request({ port: (server.address() as AddressInfo).port, host: "127.0.0.1" });
  client.on("error", () => {});
  client.end();
  await new Promise((resolve) => server.once("request", resolve));
  client.destroy();
  expect(await outcome).toBe("rejected: client closed the connection");
  expect(body.destroyed).toBe(true);
  server.close();
});

it("response-backpressure: a client reading slowly gets every byte, counted once, with the body paused meanwhile", async () => {
  const chunk = Buffer.alloc(64 * 1024, 1);
  const chunks = 64; // 4 MiB: far past every socket and stream buffer on the way
  let produced = 0;
  let pausedOnce = false;
  const body = new Readable({
    read() {
      if (produced === chunks) return void this.push(null);
      produced++;
      this.push(chunk);
    },
  });
  body.on("pause", () => (pausedOnce = true));
  const count = { bytesOut: 0 };
  let written: Promise<void> = Promise.resolve();
  const server = createServer((_req, res: ServerResponse) => {
    written = writeResponse(res, { statusCode: 200, headers: {}, body }, {}, count);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const received = await new Promise<number>((resolve, reject) => {
    const client = request({ port: (server.address() as AddressInfo).port, host: "127.0.0.1" });
    client.on("error", reject);
    client.on("response", (response) => {
      let bytes = 0;
      // Read in bursts: the server must hold off while the client does not read.
      response.pause();
      const drip = setInterval(() => {
        let piece: Buffer | null;
        while ((piece = response.read() as Buffer | null) !== null) bytes += piece.length;
      }, 5);
      response.once("end", () => {
        clearInterval(drip);
        resolve(bytes);
      });
    });
    client.end();
  });
  await written;
  server.close();
  expect(received).toBe(chunk.length * chunks);
  expect(count.bytesOut).toBe(chunk.length * chunks);
  expect(pausedOnce).toBe(true);
});

it("upstream-body-closed-early: a body that closes before its end, with no error (an HTTP/2 reset with CANCEL), fails the response instead of leaving it open", async () => {
  const body = new Readable({ read() {} });
  // The outcome is taken at once: the rejection may come before the test awaits it.
  let outcome: Promise<unknown> = Promise.resolve();
  const server = createServer((_req, res: ServerResponse) => {
    outcome = writeResponse(res, { statusCode: 200, headers: {}, body }, {}, { bytesOut: 0 }).then(
      () => "resolved",
      (err: unknown) => err,
    );
    body.push(Buffer.alloc(1024, 1));
    // Closed, neither ended nor failed: what an upstream stream reset without error does.
    setImmediate(() => body.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  try {
    const client = request({ port: (server.address() as AddressInfo).port, host: "127.0.0.1" });
    client.on("error", () => {});
    client.end();
    await new Promise((resolve) => client.once("response", resolve));
    const settled = await outcome;
    expect(settled).toBeInstanceOf(Error);
    expect((settled as Error).message).toBe("upstream body closed before its end");
  } finally {
    server.closeAllConnections();
    server.close();
  }
});
