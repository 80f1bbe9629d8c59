/**
 * A test file's mesh without setup and teardown blocks: `withMesh` registers the hooks,
 * hands out apps, sidecars and mTLS clients, and at the end of the file stops everything
 * it handed out, last started first, then removes the PKI. A test may stop something
 * early itself; the stops are idempotent.
 */
import { rm } from "node:fs/promises";
import type { Agent } from "undici";
import { afterAll, beforeAll } from "vitest";
import { startApp, type AppHandler, type TestApp } from "./app.js";
import {
  makePki,
  startSidecar,
  tenantClient,
  type ClientOptions,
  type Pki,
  type RunningSidecar,
} from "./mesh.js";

export interface Mesh {
  /** Available from the file's first `beforeAll` on (withMesh's own runs first). */
  readonly pki: Pki;
  app(handler?: AppHandler): Promise<TestApp>;
  sidecar(config: Record<string, unknown>): Promise<RunningSidecar>;
  /** `tenant`'s `service` certificate, calling `serverService` (see `tenantClient`). */
  client(
    tenant: string,
    service: string,
    serverService: string,
    overrides?: ClientOptions,
  ): Promise<Agent>;
  /** Runs `step` at the end of the file, before whatever was started earlier. */
  defer(step: () => unknown): void;
}

/** Call at the top of a test file (or describe block), before its own hooks. */
export function withMesh(tenants: string[], services: string[]): Mesh {
  let pki: Pki | undefined;
  const steps: Array<() => unknown> = [];
  const track = <T>(value: T, stop: () => unknown): T => {
    steps.push(stop);
    return value;
  };
  beforeAll(async () => {
    const made = await makePki(tenants, services);
    pki = track(made, () => rm(made.dir, { recursive: true, force: true }));
  });
  afterAll(() => teardown(steps.splice(0).reverse()));
  const current = (): Pki => {
    if (!pki) throw new Error("withMesh: the PKI is made in beforeAll");
    return pki;
  };
  return {
    get pki() {
      return current();
    },
    app: async (handler) => {
      const app = await startApp(handler);
      return track(app, () => app.close());
    },
    sidecar: async (config) => {
      const running = await startSidecar(config);
      return track(running, () => running.stop());
    },
    client: async (tenant, service, serverService, overrides) => {
      const agent = await tenantClient(current(), tenant, service, serverService, overrides);
      // A test may have destroyed it (to cut its connections); closing then would throw.
      return track(agent, () => (agent.destroyed ? undefined : agent.close()));
    },
    defer: (step) => void steps.push(step),
  };
}

/** Every step runs even when one fails; the first failure is the file's. */
async function teardown(steps: Array<() => unknown>): Promise<void> {
  const failures: unknown[] = [];
  for (const step of steps) {
    try {
      await step();
    } catch (err) {
      failures.push(err);
    }
  }
  if (failures.length === 1) throw failures[0];
  if (failures.length > 1) throw new AggregateError(failures, "mesh teardown failed");
}
