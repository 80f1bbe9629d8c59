/**
 * Generic webhook sink: one JSON POST per firing and per resolution, signed with
 * HMAC-SHA-256 over the raw body (`x-palisade-signature: sha256=<hex>`). The body repeats
 * the `x-palisade-timestamp` header (unix seconds), so the timestamp is covered by the
 * signature and a receiver can refuse replays; both are fresh on every retry.
 */
import { createHmac, timingSafeEqual } from "node:crypto";
import type { AlertSink, AnomalyAlert } from "./alert.js";
import { describeAlert } from "./alert.js";
import type { DeliveryQueue, DeliveryStats } from "./delivery-queue.js";

export const SIGNATURE_HEADER = "x-palisade-signature";
export const TIMESTAMP_HEADER = "x-palisade-timestamp";

export interface WebhookSinkOptions {
  readonly url: string;
  readonly secret: string;
  readonly service: string;
  readonly instance: string;
  readonly queue: DeliveryQueue;
}

export function signWebhookBody(secret: string, body: string | Buffer): string {
  return `sha256=${createHmac("sha256", secret).update(body).digest("hex")}`;
}

/** Constant-time check of a received signature header against the raw body. */
export function verifyWebhookSignature(
  secret: string,
  body: string | Buffer,
  header: string | undefined,
): boolean {
  if (header === undefined) return false;
  const expected = Buffer.from(signWebhookBody(secret, body));
  const actual = Buffer.from(header);
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}

export class WebhookSink implements AlertSink {
  constructor(private readonly options: WebhookSinkOptions) {}

  fired(alert: AnomalyAlert): void {
    this.send(alert, "firing");
  }

  resolved(alert: AnomalyAlert): void {
    this.send(alert, "resolved");
  }

  stats(): DeliveryStats {
    return this.options.queue.stats();
  }

  close(deadlineMs: number): Promise<number> {
    return this.options.queue.close(deadlineMs);
  }

  private send(alert: AnomalyAlert, status: "firing" | "resolved"): void {
    const { url, secret, service, instance } = this.options;
    this.options.queue.push({
      url,
      render: (now) => {
        const timestamp = Math.floor(now / 1000);
        const body = JSON.stringify({
          version: 1,
          status,
          timestamp,
          service,
          instance,
          alert: payload(alert),
        });
        return {
          body,
          headers: {
            [SIGNATURE_HEADER]: signWebhookBody(secret, body),
            [TIMESTAMP_HEADER]: `${timestamp}`,
          },
        };
      },
    });
  }
}

function payload(alert: AnomalyAlert): object {
  return {
    tenant: alert.tenant,
    kind: alert.kind,
    startsAt: new Date(alert.startsAt).toISOString(),
    endsAt: alert.endsAt !== undefined ? new Date(alert.endsAt).toISOString() : null,
    observed: alert.observed,
    threshold: alert.threshold,
    baselineBar: alert.baselineBar,
    windowMs: alert.windowMs,
    targets: alert.targets ?? [],
    requestId: alert.requestId ?? null,
    description: describeAlert(alert),
  };
}
