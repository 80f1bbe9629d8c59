/**
 * A real headless Chromium (Debian's `chromium` package) driven by puppeteer-core: a fresh
 * profile directory per launch, no network of its own (no updates, sync or QUIC), removed
 * on close.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import puppeteer, { type Browser } from "puppeteer-core";
import { findBinary } from "./prometheus.js";

export const CHROMIUM_INSTALL_HINT =
  "chromium not found on PATH: install it (Debian/Ubuntu: apt-get install chromium)";

export function findChromium(): string | undefined {
  return findBinary(["chromium", "chromium-browser", "google-chrome"]);
}

export interface RunningBrowser {
  browser: Browser;
  close(): Promise<void>;
}

export async function launchChromium(executablePath: string): Promise<RunningBrowser> {
  const profile = await mkdtemp(join(tmpdir(), "palisade-chromium-"));
  try {
    const browser = await puppeteer.launch({
      executablePath,
      headless: true,
      timeout: 30_000,
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        `--user-data-dir=${profile}`,
      ],
    });
    let closing: Promise<void> | undefined;
    return {
      browser,
      close: () =>
        (closing ??= (async () => {
          await browser.close();
          await rm(profile, { recursive: true, force: true });
        })()),
    };
  } catch (err) {
    await rm(profile, { recursive: true, force: true });
    throw err;
  }
}
