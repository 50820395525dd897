/**
 * The MCP tools' arguments and results, built from the REST schemas of this package so the
 * stdio server and the server's /mcp share one definition of every shape.
 *
 * Arguments are the REST fields a model needs (snake_case, as REST), with descriptions written for a model.
 * Results are REST answers. MCP wants an object at the root of an output schema, so an answer that is a
 * union of objects (a start, a working-set update) is given as one object: `objectOfUnion` merges the
 * options' fields (a field missing from some option is optional; one field's types across options become
 * a union).
 */
import { z } from 'zod';
import { AvailabilityQuery, Hold, HoldConflictResponse, HoldCreateRequest, HoldReleaseResponse } from './holds.js';
import {
  CheckResponse,
  ClaimList,
  ClaimListQuery,
  ClaimResponse,
  ResourceSelector,
  RunExtendRequest,
  RunExtendResponse,
  RunFinishRequest,
  RunFinishResponse,
  RunStartRequest,
  RunStartResponse,
  WorkingSetResult,
  WorkingSetUpdate,
} from './schemas.js';

type AnyObject = z.ZodObject<z.ZodRawShape>;

/** One object schema accepting every option of a union of objects (see the header). */
export function objectOfUnion(union: { options: readonly AnyObject[] }): z.ZodObject<Record<string, z.ZodType>> {
  const keys = [...new Set(union.options.flatMap((o) => Object.keys(o.shape)))];
  const shape: Record<string, z.ZodType> = {};
  for (const key of keys) {
    const types = union.options.map((o) => o.shape[key] as z.ZodType | undefined);
    const present = types.filter((t): t is z.ZodType => t !== undefined);
    const unique = [...new Set(present)];
    const one = unique.length === 1 ? (unique[0] as z.ZodType) : z.union(unique as [z.ZodType, z.ZodType, ...z.ZodType[]]);
    shape[key] = present.length < types.length && !one.safeParse(undefined).success ? one.optional() : one;
  }
  return z.object(shape);
}

// ---------------------------------------------------------------------------------------------------
// Arguments

const resource = (ResourceSelector.resource.unwrap() as z.ZodString).describe(
  'The resource, type:key: "repo:owner/name" for a git repository (use the origin remote\'s owner/name), or "project:<key>"',
);
const claimId = RunFinishRequest.shape.claim_id.describe('The claim id (clm_...) returned by availsync_start_run');
const paths = WorkingSetUpdate.shape.paths.describe(
  'Repo-relative POSIX paths; a trailing "/" means a whole directory; globs *, ?, ** allowed',
);
const holdResource = HoldCreateRequest.shape.resource.describe('type:key, e.g. release:prod or calendar:alice');

export const McpStartRunInput = z.object({
  resource,
  duration_minutes: RunStartRequest.shape.duration_minutes.describe('Lease length (default: the workspace default, 30)'),
  reason: RunStartRequest.shape.reason.describe('What you are about to do; shown to agents you block'),
  idempotency_key: RunStartRequest.shape.idempotency_key.describe('Same key for a retried start of the same logical run'),
  preempt: RunStartRequest.shape.preempt.describe('Take over strictly lower-priority claims (only when the user asked)'),
  wait_seconds: RunStartRequest.shape.wait_seconds.describe(
    'Wait in the queue up to this many seconds (at most 900) while another agent holds it; 0 (default): answer at once',
  ),
  paths: paths.optional().describe('Files you will edit: claimed in the working set right after the start'),
});

export const McpUpdateWorkingSetInput = z.object({
  claim_id: claimId,
  paths,
  op: WorkingSetUpdate.shape.op.describe('Default "add"'),
  mode: WorkingSetUpdate.shape.mode.describe('Default "edit"'),
  resource: WorkingSetUpdate.shape.resource.describe(
    'Default: the claim\'s resource; "repo:owner/name" to coordinate on a repo from a project claim',
  ),
  lease_seconds: WorkingSetUpdate.shape.lease_seconds.describe("File lease, default 600, never past the run's expiry"),
});

export const McpExtendRunInput = z.object({
  claim_id: claimId,
  duration_minutes: RunExtendRequest.shape.duration_minutes.describe("Default: the claim's original duration"),
  paths: paths.optional().describe('Refresh these file claims (op "add") in the same call'),
});

export const McpFinishRunInput = z.object({
  claim_id: claimId,
  outcome: RunFinishRequest.shape.outcome.describe('Default "finished"'),
  reason: RunFinishRequest.shape.reason.describe('A short summary for the audit log'),
});

export const McpCheckInput = z.object({
  resource,
  duration_minutes: RunStartRequest.shape.duration_minutes.describe('The lease length you would ask for'),
});

export const McpListClaimsInput = z.object({
  resource: resource.optional(),
  status: ClaimListQuery.shape.status,
  limit: z.number().int().min(1).max(100).optional().describe('Default 20'),
});

export const McpGetClaimInput = z.object({ claim_id: claimId.describe('clm_...') });

export const McpCheckAvailabilityInput = z.object({
  resource: holdResource,
  from: AvailabilityQuery.shape.from,
  to: AvailabilityQuery.shape.to,
  duration_minutes: z
    .number()
    .int()
    .min(1)
    .max(31 * 24 * 60)
    .optional()
    .describe('Find the first free window of this length'),
});

export const McpCreateHoldInput = z.object({
  resource: holdResource,
  start_at: HoldCreateRequest.shape.start_at,
  end_at: HoldCreateRequest.shape.end_at,
  reason: HoldCreateRequest.shape.reason,
  ttl_minutes: HoldCreateRequest.shape.ttl_minutes,
  idempotency_key: HoldCreateRequest.shape.idempotency_key,
});

export const McpReleaseHoldInput = z.object({ hold_id: z.string().min(1).max(64).describe('hld_...') });

// ---------------------------------------------------------------------------------------------------
// Results

export const McpWorkingSetResult = objectOfUnion(WorkingSetResult);
/** A start; `working_set` is the update of the `paths` given with it. */
export const McpStartRunResult = objectOfUnion(RunStartResponse).extend({ working_set: McpWorkingSetResult.optional() });
export const McpExtendRunResult = RunExtendResponse.extend({ working_set: McpWorkingSetResult.optional() });
export const McpFinishRunResult = RunFinishResponse;
export const McpCheckResult = CheckResponse;
export const McpListClaimsResult = ClaimList;
export const McpGetClaimResult = ClaimResponse;
export { AvailabilityResponse as McpCheckAvailabilityResult } from './holds.js';
/** A hold taken, or the holds it overlaps with the next free slot (the 409 hold_conflict answer's fields). */
export const McpCreateHoldResult = z.object({
  action: z.enum(['held', 'conflict']),
  hold: Hold.optional(),
  conflicts: HoldConflictResponse.shape.conflicts.optional(),
  next_free_slot: HoldConflictResponse.shape.next_free_slot.optional(),
});
export const McpReleaseHoldResult = HoldReleaseResponse;

export type McpStartRunInput = z.infer<typeof McpStartRunInput>;
export type McpCreateHoldResult = z.infer<typeof McpCreateHoldResult>;
