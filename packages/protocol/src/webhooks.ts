/**
 * Webhooks: endpoints that receive the live events (events.ts) as signed POSTs. Shapes only:
 * the server checks what depends on the world (the URL's addresses, SSRF) and answers 4xx with `details`.
 */
import { z } from 'zod';
import { EVENT_TYPES } from './events.js';
import { ListQuery, Pagination, Timestamp } from './schemas.js';

export const WEBHOOK_FORMATS = ['json', 'slack'] as const;
export const WebhookFormat = z.enum(WEBHOOK_FORMATS);
/** The synthetic event "send test" delivers: not in the log, never sent by the outbox. */
export const WEBHOOK_TEST_EVENT = 'webhook.test';
/** An endpoint failing continuously this long is disabled (and audited). */
export const WEBHOOK_DISABLE_AFTER_DAYS = 3;
/** The headers of every delivery. */
export const WEBHOOK_SIGNATURE_HEADER = 'Availsync-Signature';
export const WEBHOOK_EVENT_ID_HEADER = 'Availsync-Event-Id';

const WebhookUrl = z
  .string()
  .min(1)
  .max(2048)
  .refine((s) => {
    try {
      const u = new URL(s);
      return u.protocol === 'http:' || u.protocol === 'https:';
    } catch {
      return false;
    }
  }, 'must be an absolute http:// or https:// URL');

const EventSelection = z
  .array(z.union([z.enum(EVENT_TYPES), z.literal('*')]))
  .min(1)
  .max(EVENT_TYPES.length + 1)
  .describe('Event types to deliver, or ["*"] for all');

export const Webhook = z.object({
  id: z.string(),
  org_id: z.string(),
  url: z.string(),
  description: z.string().nullable(),
  events: z.array(z.string()),
  format: WebhookFormat,
  enabled: z.boolean(),
  disabled_reason: z.string().nullable().describe('Why it was disabled: "failing" (3 days of failures) or "manual"'),
  failing_since: Timestamp.nullable().describe('The first failure of the current run of failures'),
  created_at: Timestamp,
  updated_at: Timestamp,
});
export type Webhook = z.infer<typeof Webhook>;

export const WebhookCreateRequest = z
  .object({
    url: WebhookUrl,
    events: EventSelection,
    description: z.string().max(500).optional(),
    format: WebhookFormat.optional(),
  })
  .strict();
export const WebhookPatchRequest = z
  .object({
    url: WebhookUrl.optional(),
    events: EventSelection.optional(),
    description: z.string().max(500).nullable().optional(),
    format: WebhookFormat.optional(),
    enabled: z.boolean().optional(),
  })
  .strict();
export const WebhookCreatedResponse = z.object({
  webhook: Webhook,
  secret: z.string().describe('whsec_…: signs every delivery. Shown in this answer only, never again'),
});
export const WebhookResponse = z.object({ webhook: Webhook });
export const WebhookDeletedResponse = z.object({ deleted: z.literal(true), webhook: Webhook });
export const WebhookList = z.object({ data: z.array(Webhook), pagination: Pagination });
export const WebhookListQuery = z.object({ ...ListQuery });

export const WebhookDelivery = z.object({
  id: z.string(),
  webhook_id: z.string(),
  event_id: z.number().int().nullable().describe('The event (its seq); null for a test delivery'),
  event_type: z.string(),
  attempt: z.number().int().describe('1 for the first try of this event'),
  status: z.number().int().nullable().describe("The endpoint's HTTP status; null when no answer came"),
  ok: z.boolean(),
  error: z.string().nullable(),
  duration_ms: z.number().int(),
  created_at: Timestamp,
});
export type WebhookDelivery = z.infer<typeof WebhookDelivery>;
export const WebhookDeliveryList = z.object({ data: z.array(WebhookDelivery), pagination: Pagination });
export const WebhookDeliveryListQuery = z.object({ ...ListQuery });
export const WebhookTestResponse = z.object({ delivery: WebhookDelivery });
export type WebhookCreatedResponse = z.infer<typeof WebhookCreatedResponse>;
