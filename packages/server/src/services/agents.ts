/** Agents and their keys (workspace session only). A key is shown once, stored as SHA-256. */

import type { Agent, AgentModeValue, AgentTypeValue } from '@availsync/protocol';
import { iso, isoOrNull } from '../clock.js';
import { effectiveMode } from '../domain/arbitration.js';
import { errors } from '../errors.js';
import { newId } from '../ids.js';
import { generateApiKey } from '../security/keys.js';
import type { Executor, Tx } from '../storage/store.js';
import { writeAudit } from './audit-write.js';
import type { AgentRow, OrgRow, Presenter, Principal, ServiceDeps } from './context.js';
import { idempotencyScope } from './context.js';
import { type IdempotentReply, idempotentTransaction } from './idempotency.js';
import { ensurePlanCapacity } from './plan-limits.js';

export const ONLINE_WINDOW_MS = 2 * 60_000;

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

/** What deleting an agent needs of the work service (WorkService): its claims released in the same transaction. */
export interface ClaimReleaser {
  releaseAllOf(trx: Tx, p: Principal, agentId: string): Promise<void>;
}

export function toAgent(row: AgentRow, org: Pick<OrgRow, 'default_mode'>, now: number): Agent {
  return {
    id: row.id,
    org_id: row.org_id,
    name: row.name,
    agent_type: row.agent_type as AgentTypeValue,
    priority: row.priority,
    mode: row.mode as AgentModeValue,
    effective_mode: effectiveMode(row, org),
    key_prefix: row.key_prefix,
    created_at: iso(row.created_at),
    last_seen_at: isoOrNull(row.last_seen_at),
    online: row.last_heartbeat_at != null && now - row.last_heartbeat_at < ONLINE_WINDOW_MS,
  };
}

/** A new agent and its key, shown this once (a replay of the request answers `api_key: null`). */
export interface AgentCreated {
  agent: Agent;
  api_key: string | null;
}

type AgentFields = {
  name?: string | undefined;
  agent_type?: AgentTypeValue | undefined;
  priority?: number | undefined;
  mode?: AgentModeValue | undefined;
};

export class AgentService {
  /** `presentCreated`: how POST /v1/orgs/:org_id/agents answers a create (http/replies.ts), for in-process callers. */
  constructor(
    private readonly deps: ServiceDeps,
    private readonly work: ClaimReleaser,
    private readonly presentCreated: Presenter<AgentCreated, AgentCreated>,
  ) {}

  private async find(p: Principal, agentId: string): Promise<AgentRow> {
    return findLiveAgent(this.deps.store.db, p.org.id, agentId);
  }

  async list(p: Principal, q: { limit: number; offset: number }) {
    const db = this.deps.store.db;
    const base = db.selectFrom('agents').where('org_id', '=', p.org.id).where('deleted_at', 'is', null);
    const [rows, count] = await Promise.all([
      base.selectAll().orderBy('created_at', 'asc').orderBy('id').limit(q.limit).offset(q.offset).execute(),
      base.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow(),
    ]);
    const now = this.deps.clock.now();
    const total = Number(count.n);
    return {
      data: rows.map((r) => toAgent(r, p.org, now)),
      pagination: { limit: q.limit, offset: q.offset, total, has_more: q.offset + rows.length < total },
    };
  }

  async get(p: Principal, agentId: string) {
    return toAgent(await this.find(p, agentId), p.org, this.deps.clock.now());
  }

  create(
    p: Principal & { kind: 'user' },
    input: AgentFields & { name: string },
    idempotencyKey: string | undefined,
  ): Promise<IdempotentReply<AgentCreated>>;
  create<B>(
    p: Principal & { kind: 'user' },
    input: AgentFields & { name: string },
    idempotencyKey: string | undefined,
    present: Presenter<AgentCreated, B>,
  ): Promise<IdempotentReply<B>>;
  create(
    p: Principal & { kind: 'user' },
    input: AgentFields & { name: string },
    idempotencyKey: string | undefined,
    present: Presenter<AgentCreated, unknown> = this.presentCreated,
  ) {
    return idempotentTransaction(
      this.deps.store,
      { scope: idempotencyScope(p), key: idempotencyKey, fingerprint: { route: 'agents.create', ...input } },
      this.deps.clock.now(),
      async (trx): Promise<AgentCreated> => {
        await ensurePlanCapacity(this.deps, trx, p.org, { agents: true });
        const now = this.deps.clock.now();
        const key = generateApiKey();
        const row: AgentRow = {
          id: newId('agent'),
          org_id: p.org.id,
          name: input.name,
          agent_type: input.agent_type ?? 'generic',
          priority: input.priority ?? 100,
          mode: input.mode ?? 'inherit',
          key_hash: key.hash,
          key_prefix: key.prefix,
          key_created_at: now,
          created_at: now,
          last_seen_at: null,
          last_heartbeat_at: null,
          deleted_at: null,
        };
        await trx.insertInto('agents').values(row).execute();
        await writeAudit(trx, now, {
          org_id: p.org.id,
          actor: { type: 'user', id: p.userId },
          event: 'agent.created',
          details: {
            agent_id: row.id,
            name: row.name,
            agent_type: row.agent_type,
            priority: row.priority,
            mode: row.mode,
            key_prefix: key.prefix,
          },
        });
        return { agent: toAgent(row, p.org, now), api_key: key.key };
      },
      present,
      // The key is shown once: a replay of this request returns the agent with api_key null.
      { forStorage: (created) => ({ ...created, api_key: null }) },
    );
  }

  async update(p: Principal & { kind: 'user' }, agentId: string, input: AgentFields) {
    const row = await this.find(p, agentId);
    const changes: Partial<AgentRow> = {};
    for (const field of ['name', 'agent_type', 'priority', 'mode'] as const) {
      if (input[field] !== undefined && input[field] !== row[field]) (changes as Record<string, unknown>)[field] = input[field];
    }
    const now = this.deps.clock.now();
    if (Object.keys(changes).length > 0) {
      await this.deps.store.transaction(async (trx) => {
        await trx.updateTable('agents').set(changes).where('id', '=', row.id).execute();
        await writeAudit(trx, now, {
          org_id: p.org.id,
          actor: { type: 'user', id: p.userId },
          event: 'agent.updated',
          details: {
            agent_id: row.id,
            changes: Object.fromEntries(Object.entries(changes).map(([k, v]) => [k, { from: row[k as keyof AgentRow], to: v }])),
          },
        });
      });
    }
    return toAgent({ ...row, ...changes }, p.org, now);
  }

  async rotateKey(p: Principal & { kind: 'user' }, agentId: string) {
    const row = await this.find(p, agentId);
    const key = generateApiKey();
    const now = this.deps.clock.now();
    await this.deps.store.transaction(async (trx) => {
      await trx
        .updateTable('agents')
        .set({ key_hash: key.hash, key_prefix: key.prefix, key_created_at: now })
        .where('id', '=', row.id)
        .execute();
      await writeAudit(trx, now, {
        org_id: p.org.id,
        actor: { type: 'user', id: p.userId },
        event: 'agent.key_rotated',
        details: { agent_id: row.id, old_key_prefix: row.key_prefix, key_prefix: key.prefix },
      });
    });
    return { agent: toAgent({ ...row, key_hash: key.hash, key_prefix: key.prefix, key_created_at: now }, p.org, now), api_key: key.key };
  }

  /** Delete an agent: its key stops working at once and its active claims are released. */
  async remove(p: Principal & { kind: 'user' }, agentId: string) {
    const row = await this.find(p, agentId);
    const now = this.deps.clock.now();
    // One transaction: the key stops working and the agent's claims are released together, so a crash
    // never leaves a deleted agent holding resources.
    await this.deps.store.transaction(async (trx) => {
      await trx.updateTable('agents').set({ deleted_at: now, key_hash: null }).where('id', '=', row.id).execute();
      await writeAudit(trx, now, {
        org_id: p.org.id,
        actor: { type: 'user', id: p.userId },
        event: 'agent.deleted',
        details: { agent_id: row.id, name: row.name },
      });
      await this.work.releaseAllOf(trx, p, row.id);
    });
    return { deleted: true, agent: toAgent({ ...row, deleted_at: now, key_hash: null }, p.org, now) };
  }

  /** The calling agent's own profile, from what authentication already loaded. */
  self(p: Principal & { kind: 'agent' }) {
    return toAgent(p.agent, p.org, this.deps.clock.now());
  }

  #lastSeenWrites = new Map<string, number>();
  /** Record `last_seen_at`, at most every 30 s per agent so it costs nothing on the hot path. */
  touch(agent: AgentRow): void {
    const now = this.deps.clock.now();
    const last = this.#lastSeenWrites.get(agent.id) ?? agent.last_seen_at ?? 0;
    if (now - last < 30_000) return;
    this.#lastSeenWrites.set(agent.id, now);
    this.deps.store.db
      .updateTable('agents')
      .set({ last_seen_at: now })
      .where('id', '=', agent.id)
      .execute()
      .catch((err: unknown) => this.deps.logger.warn('last_seen_at update failed', { agent_id: agent.id, error: String(err) }));
  }
}
