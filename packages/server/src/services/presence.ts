/**
 * Agent presence: an MCP client says it is alive (POST /v1/mcp/heartbeat, or any request to the
 * remote MCP endpoint), and the agent reads as `online` for 2 minutes (agents.ts ONLINE_WINDOW_MS).
 */
import { iso } from '../clock.js';
import { errors } from '../errors.js';
import type { Principal, ServiceDeps } from './context.js';

/** The remote MCP endpoint records an agent's presence at most this often per node: well inside the online window. */
export const PRESENCE_EVERY_MS = 30_000;
/** Agents whose last presence this node remembers; past it the memory starts over. */
const PRESENCE_MAX_AGENTS = 10_000;

export class PresenceService {
  /** Agent id → when this node last recorded its presence (the services' clock). */
  readonly #recorded = new Map<string, number>();

  constructor(private readonly deps: ServiceDeps) {}

  /** POST /v1/mcp/heartbeat */
  async heartbeat(p: Principal): Promise<{ ok: true; server_time: string }> {
    if (p.kind !== 'agent') throw errors.forbidden('Heartbeats are sent with an agent API key');
    const now = this.deps.clock.now();
    await this.deps.store.db
      .updateTable('agents')
      .set({ last_heartbeat_at: now, last_seen_at: now })
      .where('id', '=', p.agent.id)
      .execute();
    return { ok: true, server_time: iso(now) };
  }

  /** A request to the remote MCP endpoint: a heartbeat, unless this node recorded one less than PRESENCE_EVERY_MS ago. */
  async markPresent(p: Principal): Promise<void> {
    if (p.kind !== 'agent') return;
    const now = this.deps.clock.now();
    const last = this.#recorded.get(p.agent.id);
    if (last !== undefined && now - last < PRESENCE_EVERY_MS && now >= last) return;
    await this.heartbeat(p);
    if (this.#recorded.size >= PRESENCE_MAX_AGENTS) this.#recorded.clear();
    this.#recorded.set(p.agent.id, now);
  }
}
