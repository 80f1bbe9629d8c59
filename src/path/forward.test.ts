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
      writeResponse(res, { statusCode: 200, headers: {}, body }, {}).then(
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
