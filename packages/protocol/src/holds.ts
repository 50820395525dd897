/**
 * Availability holds: reservations of a future time window on a resource (a release slot, a
 * meeting), availability queries and conflict previews. Windows are `[start_at, end_at)`, half-open.
 * Hold resources may use any lowercase type (`calendar:alice`, `release:prod`; see `parseHoldResource`).
 *
 * Shapes only: the server checks what depends on the clock or on other fields (end_at after start_at,
 * windows and ranges of at most 31 days, the resource string) and answers 400 with `details` per field.
 */
import { z } from 'zod';
import { ListQuery, Metadata, Pagination, Timestamp } from './schemas.js';

export const HOLD_MAX_WINDOW_DAYS = 31;
export const HOLD_TTL_MAX_MINUTES = 10_080;

const Instant = z.iso.datetime({ offset: true }).describe('RFC 3339 timestamp, e.g. 2026-03-02T10:00:00Z');
const HoldResourceField = z.string().min(3).max(260).describe('type:key with a lowercase type, e.g. release:prod or calendar:alice');

export const HoldStatus = z.enum(['active', 'released', 'expired']);

export const Hold = z.object({
  id: z.string(),
  agent_id: z.string(),
  resource: z.string(),
  resource_type: z.string(),
  resource_key: z.string(),
  start_at: Timestamp,
  end_at: Timestamp,
  status: HoldStatus,
  reason: z.string().nullable(),
  metadata: z.record(z.string(), z.unknown()),
  expires_at: Timestamp.nullable().describe('Tentative holds lapse at this time unless confirmed; null for a firm hold'),
  idempotency_key: z.string().nullable(),
  created_at: Timestamp,
  released_at: Timestamp.nullable(),
});

export const TimeWindow = z.object({ start_at: Timestamp, end_at: Timestamp });

export const HoldCreateRequest = z
  .object({
    agent_id: z
      .string()
      .min(1)
      .max(64)
      .optional()
      .describe('Required with a session cookie; with an agent key it is optional and must match the key'),
    resource: HoldResourceField,
    start_at: Instant,
    end_at: Instant.describe('After start_at, at most 31 days later'),
    reason: z.string().max(500).optional(),
    metadata: Metadata.optional(),
    ttl_minutes: z
      .number()
      .int()
      .min(1)
      .max(HOLD_TTL_MAX_MINUTES)
      .optional()
      .describe('Make the hold tentative: it lapses after this many minutes unless confirmed'),
    idempotency_key: z.string().min(1).max(255).optional(),
  })
  .strict();

export const HoldResponse = z.object({ hold: Hold });
export const HoldReleaseResponse = z.object({ action: z.enum(['released', 'already_released']), hold: Hold });
export const HoldConfirmResponse = z.object({ action: z.enum(['confirmed', 'already_confirmed']), hold: Hold });

export const HoldConflictResponse = z.object({
  error: z.literal('hold_conflict'),
  message: z.string(),
  request_id: z.string(),
  conflicts: z.array(Hold).describe('The overlapping active holds, at most 100'),
  conflicts_count: z.number().int().describe('How many active holds the window overlaps in all'),
  conflicts_truncated: z.boolean().describe('True when conflicts lists only the first 100'),
  next_free_slot: TimeWindow.nullable().describe('The earliest window of the same length that is free, within 31 days'),
});

export const HoldListQuery = z.object({
  resource: z.string().max(260).optional(),
  status: HoldStatus.optional(),
  agent_id: z.string().max(64).optional(),
  from: Instant.optional().describe('Only holds whose window ends after this time'),
  to: Instant.optional().describe('Only holds whose window starts before this time'),
  ...ListQuery,
});
export const HoldList = z.object({ data: z.array(Hold), pagination: Pagination });

export const AvailabilityQuery = z.object({
  resource: HoldResourceField,
  from: Instant.optional().describe('Default: now'),
  to: Instant.optional().describe('Default: from + 7 days; at most 31 days after from'),
  duration_minutes: z.coerce
    .number()
    .int()
    .min(1)
    .max(HOLD_MAX_WINDOW_DAYS * 24 * 60)
    .optional()
    .describe('Ask for first_free_slot: the first free window of this length'),
});

export const BusyWindow = z.object({ start_at: Timestamp, end_at: Timestamp, hold_id: z.string(), agent_id: z.string() });

export const AvailabilityResponse = z.object({
  resource: z.string(),
  from: Timestamp,
  to: Timestamp,
  busy: z.array(BusyWindow).describe('Active holds overlapping [from, to), with their full windows; the first 100 by start'),
  busy_count: z.number().int().describe('How many busy windows there are in all'),
  busy_truncated: z.boolean().describe('True when busy lists only the first 100'),
  free: z.array(TimeWindow).describe('The gaps between busy windows, within [from, to); the first 100'),
  free_count: z.number().int().describe('How many free gaps there are in all'),
  free_truncated: z.boolean().describe('True when free lists only the first 100'),
  first_free_slot: TimeWindow.nullable().describe(
    'With duration_minutes: the first free window of exactly that length, starting no earlier than now; otherwise null',
  ),
});

export const ConflictsCheckRequest = z.object({ resource: HoldResourceField, start_at: Instant, end_at: Instant }).strict();

export const ConflictsCheckResponse = z.object({
  conflict: z.boolean(),
  conflicts: z.array(Hold).describe('The overlapping active holds, at most 100'),
  conflicts_count: z.number().int().describe('How many active holds the window overlaps in all'),
  conflicts_truncated: z.boolean().describe('True when conflicts lists only the first 100'),
  next_free_slot: TimeWindow.nullable().describe('The requested window when free, else the earliest free one of the same length'),
});

export type Hold = z.infer<typeof Hold>;
export type HoldStatusValue = z.infer<typeof HoldStatus>;
export type TimeWindow = z.infer<typeof TimeWindow>;
export type HoldCreateRequest = z.infer<typeof HoldCreateRequest>;
export type HoldConflictResponse = z.infer<typeof HoldConflictResponse>;
export type HoldListQuery = z.infer<typeof HoldListQuery>;
export type AvailabilityQuery = z.infer<typeof AvailabilityQuery>;
export type AvailabilityResponse = z.infer<typeof AvailabilityResponse>;
export type ConflictsCheckRequest = z.infer<typeof ConflictsCheckRequest>;
export type ConflictsCheckResponse = z.infer<typeof ConflictsCheckResponse>;
