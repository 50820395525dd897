/**
 * Agent API keys to principals, with a per-node cache for the claim path. (Making and hashing keys is
 * security/keys.ts.)
 *
 * Every agent request resolves its key (a SHA-256 hash) to the agent and its workspace. On PostgreSQL that
 * read is a round trip of its own, a quarter of a claim's. The routes that decide inside a transaction
 * (start, extend, finish, working-set updates) may take the principal from this node's cache instead, marked `unconfirmed`:
 * their transaction then reads the key row again, sent ahead with its first statement (no round trip of
 * its own), and compares. So a rotated or deleted key, a changed priority or mode, is seen exactly as if
 * it had been read first: by the same transaction that decides. When the row differs, the transaction
 * rolls back and the request runs again with the principal read afresh (or gets 401 if the key is gone).
 * Every other route reads the key directly, as before.
 */
import { errors } from '../errors.js';
import { param, prepare } from '../storage/prepared.js';
import { type Executor, sendAhead, type Tx } from '../storage/store.js';
import type { AgentRow, OrgRow, Principal, ServiceDeps } from './context.js';

/** The key's agent and workspace, in one read. */
const byKeyHash = prepare((db) =>
  db
    .selectFrom('agents')
    .innerJoin('orgs', 'orgs.id', 'agents.org_id')
    .selectAll('agents')
    .select([
      'orgs.name as org_name',
      'orgs.plan as org_plan',
      'orgs.default_mode as org_default_mode',
      'orgs.default_claim_minutes as org_default_claim_minutes',
      'orgs.max_claim_minutes as org_max_claim_minutes',
      'orgs.created_at as org_created_at',
    ])
    .where('agents.key_hash', '=', param<string>('hash'))
    .where('agents.deleted_at', 'is', null),
);
type KeyRow = NonNullable<Awaited<ReturnType<typeof byKeyHash.first>>>;

export type AgentPrincipal = Extract<Principal, { kind: 'agent' }>;

/** Keys kept per node; beyond it the oldest entry goes. */
const CACHE_SIZE = 10_000;

/** Thrown inside a transaction whose cached principal no longer matches its key row (see withPrincipal). */
class PrincipalChanged extends Error {}

/**
 * What a decision may depend on: the row without the times an agent was last seen, which change with its
 * traffic (every 30 s at most) and decide nothing.
 */
function fingerprint(row: KeyRow): string {
  const { last_seen_at: _seen, last_heartbeat_at: _heartbeat, ...rest } = row;
  return JSON.stringify(rest);
}

function principalOf(row: KeyRow): { agent: AgentRow; org: OrgRow } {
  const { org_name, org_plan, org_default_mode, org_default_claim_minutes, org_max_claim_minutes, org_created_at, ...agent } = row;
  const org: OrgRow = {
    id: agent.org_id,
    name: org_name,
    plan: org_plan,
    default_mode: org_default_mode,
    default_claim_minutes: org_default_claim_minutes,
    max_claim_minutes: org_max_claim_minutes,
    created_at: org_created_at,
  };
  return { agent: agent as AgentRow, org };
}

export class PrincipalService {
  readonly #cache = new Map<string, { found: { agent: AgentRow; org: OrgRow }; fingerprint: string }>();
  readonly #confirmed = new WeakSet<object>();

  constructor(private readonly deps: ServiceDeps) {}

  /** The key's agent and workspace, read now (and remembered for `cached`); null for an unknown key. */
  async resolve(hash: string, ex: Executor = this.deps.store.db): Promise<{ agent: AgentRow; org: OrgRow } | null> {
    const row = await byKeyHash.first(ex, { hash });
    this.#cache.delete(hash);
    if (!row) return null;
    const found = principalOf(row);
    if (this.#cache.size >= CACHE_SIZE) this.#cache.delete(this.#cache.keys().next().value as string);
    this.#cache.set(hash, { found, fingerprint: fingerprint(row) });
    return found;
  }

  /** What this node last read for the key, if anything, as a principal its transaction must confirm. */
  cached(hash: string): AgentPrincipal | undefined {
    const hit = this.#cache.get(hash);
    return hit && { kind: 'agent', ...hit.found, unconfirmed: { hash, fingerprint: hit.fingerprint } };
  }

  /**
   * Run `fn` (which makes one transaction with `transaction` below). With a principal from the cache, a
   * failure not already judged with the key confirmed (PrincipalChanged, or an error thrown before the
   * transaction confirmed it: a priority check, a claim of another workspace) is judged again with the key
   * read afresh: 401 if it is gone, `fn` once more if its row changed, else the same error.
   */
  async withPrincipal<P extends Principal, T>(p: P, fn: (p: P) => Promise<T>): Promise<T> {
    try {
      return await fn(p);
    } catch (err) {
      const cached = p.kind === 'agent' ? p.unconfirmed : undefined;
      if (!cached || this.confirmed(err)) throw err;
      const fresh = await this.resolve(cached.hash);
      if (!fresh) throw errors.unauthorized('Unknown or rotated API key');
      if (!(err instanceof PrincipalChanged) && this.#cache.get(cached.hash)?.fingerprint === cached.fingerprint) {
        this.#confirmed.add(err as object);
        throw err;
      }
      return fn({ kind: 'agent', org: fresh.org, agent: fresh.agent } as P);
    }
  }

  /** Whether an error of a request with a cached principal was judged with its key confirmed. */
  confirmed(err: unknown): boolean {
    return typeof err === 'object' && err !== null && this.#confirmed.has(err);
  }

  /**
   * `fn` in a transaction of the store's. For a principal from the cache, the key row is read inside it
   * (sent ahead of `fn`'s first statement) and compared with the cached one before `fn`'s answer or error
   * stands: a difference rolls the transaction back with PrincipalChanged, for withPrincipal to run again.
   */
  transaction<T>(p: Principal, fn: (trx: Tx) => Promise<T>): Promise<T> {
    const cached = p.kind === 'agent' ? p.unconfirmed : undefined;
    if (!cached) return this.deps.store.transaction(fn);
    return this.deps.store.transaction(async (trx) => {
      const read = await sendAhead(trx, byKeyHash.bind(trx, { hash: cached.hash }));
      const confirm = async () => {
        const [row] = await read.rows();
        if (!row || fingerprint(row) !== cached.fingerprint) throw new PrincipalChanged();
      };
      let result: T;
      try {
        result = await fn(trx);
      } catch (err) {
        await confirm();
        if (typeof err === 'object' && err !== null) this.#confirmed.add(err);
        throw err;
      }
      await confirm();
      return result;
    });
  }
}
