/**
 * The admin page in a real headless Chromium: it loads with no console error (a CSP
 * violation is one), its matrix shows a denial made before the load, and its live stream
 * shows a denial made after it within a second. A screenshot is left in test/output/.
 */
import { mkdir } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import type { Page } from "puppeteer-core";
import { beforeAll, describe, expect, it } from "vitest";
import { CHROMIUM_INSTALL_HINT, findChromium, launchChromium } from "./support/chromium.js";
import { CI } from "./support/design.js";
import { eventually } from "./support/eventually.js";
import { startLiveMesh, type LiveMesh } from "./support/live-mesh.js";
import { withMesh } from "./support/with-mesh.js";

const OUTPUT = fileURLToPath(new URL("output/", import.meta.url));
const SCREENSHOT = `${OUTPUT}admin-page.png`;

const chromium = findChromium();
const withChromium = chromium !== undefined || CI;
if (!withChromium) console.warn(`admin-page.browser.test: ${CHROMIUM_INSTALL_HINT}; skipping`);

const mesh = withMesh(["acme", "globex", "initech"], ["orders", "web"]);
let live: LiveMesh;
let page: Page;
const problems: string[] = [];

beforeAll(async () => {
  if (!withChromium) return;
  if (chromium === undefined) throw new Error(`${CHROMIUM_INSTALL_HINT}, and CI is set`);
  live = await startLiveMesh(mesh);
  const running = await launchChromium(chromium);
  mesh.defer(() => running.close());
  page = await running.browser.newPage();
  page.on("console", (m) => {
    if (m.type() === "error" || m.type() === "warn")
      problems.push(`console ${m.type()}: ${m.text()}`);
  });
  page.on("pageerror", (err) => problems.push(`page error: ${String(err)}`));
  page.on("requestfailed", (r) => {
    // The event stream is cut when the browser closes; anything else failing is a problem.
    if (!r.url().includes("/events")) problems.push(`request failed: ${r.url()}`);
  });
});

/** A string the page evaluates: the lib here has no DOM types, the browser does. */
const text = (selector: string) =>
  page.evaluate(`document.querySelector(${JSON.stringify(selector)})?.textContent ?? null`);

describe.skipIf(!withChromium)("the admin page in headless Chromium", () => {
  it("loads with no console error, and its matrix shows a denial made before", async () => {
    const before = await live.call("initech", "/tenants/acme/invoices/1");
    expect(before.status).toBe(403);
    await live.call("globex", "/tenants/acme/reports/q3");
    const response = await page.goto(`${live.sidecar.admin}/`, { waitUntil: "load" });
    expect(response?.status()).toBe(200);
    const cell = `#matrix td[data-caller="initech"][data-target="acme"] .denied`;
    expect(Number(await text(cell))).toBeGreaterThanOrEqual(1);
    expect(await text(`#matrix td[data-caller="globex"][data-target="acme"] .granted`)).toBe("1");
    expect(await text("#denials tbody")).toContain(before.requestId);
    // The script ran (it replaces the no-JavaScript note once the stream is open).
    await eventually(
      async () => (await text("#live-status"))?.toString().endsWith("live"),
      "stream open",
    );
    expect(problems).toEqual([]);
  });

  it("shows a new denial in the live stream within a second", async () => {
    const sent = performance.now();
    const denied = await live.call("initech", "/tenants/acme/live/1");
    expect(denied.status).toBe(403);
    await eventually(
      async () =>
        (await text("#denials tbody tr:first-child"))?.toString().includes(denied.requestId),
      "the new denial at the top of the stream",
      10_000,
      10,
    );
    const shownMs = performance.now() - sent;
    expect(shownMs).toBeLessThan(1_000);
    // And the matrix follows it live.
    expect(
      Number(await text(`#matrix td[data-caller="initech"][data-target="acme"] .denied`)),
    ).toBeGreaterThanOrEqual(2);
    await mkdir(OUTPUT, { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    console.info(
      `admin-page.browser.test: screenshot ${SCREENSHOT}, denial shown after ${Math.round(shownMs)} ms`,
    );
    expect(problems).toEqual([]);
  });
});
