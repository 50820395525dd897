/**
 * What the holds suites (holds*.test.ts) share: whole-hour windows two days ahead of the test clock, and the
 * calls and rows of one server's holds.
 */
import { MIN, type TestServer } from '@availsync/testkit';

export const HOUR = 60 * MIN;
export const DAY = 24 * HOUR;
export const at = (ms: number) => new Date(ms).toISOString();

/** Midnight UTC at least two days after the test clock's now. */
export function dayAhead(t: TestServer): number {
  return Math.ceil((t.clock.now() + 2 * DAY) / DAY) * DAY;
}

/** [base + h1 hours, base + h2 hours) */
export const win = (base: number, h1: number, h2: number) => ({ start_at: at(base + h1 * HOUR), end_at: at(base + h2 * HOUR) });

/** Hold calls and rows of the server `server()` returns (set up by the suite's `before`). */
export function holdsOf(server: () => TestServer) {
  const hold = (key: string, resource: string, base: number, h1: number, h2: number, extra: Record<string, unknown> = {}) =>
    server().request('POST', '/v1/holds', { key, body: { resource, ...win(base, h1, h2), ...extra } });
  const holdRows = (orgId: string) => server().store.db.selectFrom('holds').selectAll().where('org_id', '=', orgId).execute();
  const auditEvents = async (orgId: string) =>
    (
      await server()
        .store.db.selectFrom('audit_events')
        .select(['event', 'actor_type', 'details'])
        .where('org_id', '=', orgId)
        .where('event', 'like', 'hold.%')
        .orderBy('created_at')
        .orderBy('id')
        .execute()
    ).map((e) => ({ ...e, details: JSON.parse(e.details) as Record<string, unknown> }));
  return { hold, holdRows, auditEvents };
}
