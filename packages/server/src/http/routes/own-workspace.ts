import { z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import type { Principal } from '../../services/context.js';
import type { AppEnv } from '../env.js';
import { errors } from '../errors.js';

export const json = <T extends z.ZodType>(schema: T) => ({ content: { 'application/json': { schema } }, required: true });
export const ok = <T extends z.ZodType>(schema: T, description: string) => ({ description, content: { 'application/json': { schema } } });
export const OrgParam = z.object({ org_id: z.string().min(1).max(64) });
export const AgentParam = OrgParam.extend({ agent_id: z.string().min(1).max(64) });

/** A workspace route's :org_id must be the caller's own workspace; anything else reads as not found. */
export function ownWorkspace(c: Context<AppEnv>, orgId: string): Principal & { kind: 'user' } {
  const p = c.get('principal');
  if (p.kind !== 'user' || p.org.id !== orgId) throw errors.notFound('Workspace');
  return p;
}

/** The session user of a workspace route without :org_id. */
export function sessionUser(c: Context<AppEnv>): Principal & { kind: 'user' } {
  const p = c.get('principal');
  if (p.kind !== 'user') throw errors.forbidden('This route needs a workspace session');
  return p;
}
