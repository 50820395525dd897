/** Small reads several services share. */
import { errors } from '../errors.js';
import type { Executor } from '../storage/store.js';
import type { AgentRow } from './context.js';

/** A live (not deleted) agent of this workspace; anything else reads as not found. */
export async function findLiveAgent(ex: Executor, orgId: string, agentId: string): Promise<AgentRow> {
  const row = await ex
    .selectFrom('agents')
    .selectAll()
    .where('id', '=', agentId)
    .where('org_id', '=', orgId)
    .where('deleted_at', 'is', null)
    .executeTakeFirst();
  if (!row) throw errors.notFound('Agent');
  return row;
}
