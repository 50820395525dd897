/**
 * The SDK declares the API's types by hand (so its .d.ts files need neither zod nor the protocol package).
 * This file proves at compile time (`npm run typecheck`) that each still matches the protocol's zod-inferred
 * type in both directions; the runtime test only records that it compiled.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import type * as P from '@availsync/protocol';
import type * as S from '../src/index.js';

type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;

export const sameAsProtocol = {
  Claim: true satisfies Same<S.Claim, P.Claim>,
  FileClaim: true satisfies Same<S.FileClaim, P.FileClaim>,
  BlockingClaim: true satisfies Same<S.BlockingClaim, P.BlockingClaim>,
  BlockingPath: true satisfies Same<S.BlockingPath, P.BlockingPath>,
  StartResponse: true satisfies Same<S.StartResponse, P.RunStartResponse>,
  ExtendResponse: true satisfies Same<S.ExtendResponse, P.RunExtendResponse>,
  FinishResponse: true satisfies Same<S.FinishResponse, P.RunFinishResponse>,
  WorkingSetResult: true satisfies Same<S.WorkingSetResult, P.WorkingSetResult>,
  CheckResponse: true satisfies Same<S.CheckResponse, P.CheckResponse>,
  Agent: true satisfies Same<S.Agent, P.Agent>,
  Pagination: true satisfies Same<S.Pagination, P.Pagination>,
  ProtectedResource: true satisfies Same<S.ProtectedResource, P.ProtectedResource>,
  Outcome: true satisfies Same<S.Outcome, P.OutcomeValue>,
  ClaimStatus: true satisfies Same<S.ClaimStatus, P.ClaimStatusValue>,
  FileMode: true satisfies Same<S.FileMode, P.FileModeValue>,
  AgentType: true satisfies Same<S.AgentType, P.AgentTypeValue>,
  AgentMode: true satisfies Same<S.AgentMode, P.AgentModeValue>,
  Hold: true satisfies Same<S.Hold, P.Hold>,
  HoldStatus: true satisfies Same<S.HoldStatus, P.HoldStatusValue>,
  TimeWindow: true satisfies Same<S.TimeWindow, P.TimeWindow>,
  AvailabilityResponse: true satisfies Same<S.AvailabilityResponse, P.AvailabilityResponse>,
  ConflictCheckResponse: true satisfies Same<S.ConflictCheckResponse, P.ConflictsCheckResponse>,
  UsageReport: true satisfies Same<S.UsageReport, P.UsageReport>,
};

it('the SDK types match the protocol types (checked by the compiler)', () => {
  assert.ok(Object.values(sameAsProtocol).every((v) => v === true));
});
