/**
 * Who gets a resource. Pure: the caller passes the live conflicting claims (already filtered by
 * `isLive(now)`) and the request; the result is a documented union the service applies atomically.
 */
export interface LiveClaim {
  id: string;
  agent_id: string;
  priority: number;
  created_at: number;
  expires_at: number;
}

export interface StartRequest {
  priority: number;
  preempt: boolean;
  /** The requesting agent: a claim of its own blocks it too, and the reason says so. */
  agent_id?: string;
}

export type StartDecision<C extends LiveClaim = LiveClaim> =
  /** Nothing conflicts, or every conflicting claim is lower priority and the request preempts them. */
  | { action: 'proceed'; preempt: C[] }
  /** Blocked by `blocking`: the highest-priority, then oldest, conflicting claim. */
  | { action: 'skip_run'; blocking: C; reason: string };

/** The blocking claim has a higher priority than the request. */
export const SKIP_REASON = 'Another active work claim has priority';
/** The blocking claim has the request's priority: the first claim keeps the resource until it ends. */
export const SKIP_REASON_HELD = 'Another active work claim of equal priority holds this resource until it ends';
export const SKIP_REASON_OWN = 'This agent already holds this resource with another active work claim: finish or extend that run';
export const SKIP_REASON_PREEMPTABLE =
  'Another active work claim holds this resource; it has lower priority, so preempt: true would take over';

export function decideStart<C extends LiveClaim>(live: readonly C[], request: StartRequest): StartDecision<C> {
  if (live.length === 0) return { action: 'proceed', preempt: [] };
  const allLower = live.every((c) => c.priority < request.priority);
  if (allLower && request.preempt) return { action: 'proceed', preempt: [...live] };
  const blocking = [...live].sort((a, b) => b.priority - a.priority || a.created_at - b.created_at || (a.id < b.id ? -1 : 1))[0] as C;
  const reason =
    blocking.agent_id === request.agent_id
      ? SKIP_REASON_OWN
      : allLower
        ? SKIP_REASON_PREEMPTABLE
        : blocking.priority > request.priority
          ? SKIP_REASON
          : SKIP_REASON_HELD;
  return { action: 'skip_run', blocking, reason };
}

/**
 * Whether an agent's decisions are enforced or only observed: its own mode, or its workspace's default
 * when it inherits. Observe mode proceeds without a lease and records what enforcement would have done.
 */
export function effectiveMode(agent: { mode: string }, org: { default_mode: string }): 'enforce' | 'observe' {
  const mode = agent.mode === 'inherit' ? org.default_mode : agent.mode;
  return mode === 'observe' ? 'observe' : 'enforce';
}
