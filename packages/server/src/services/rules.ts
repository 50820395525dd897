/**
 * Workspace rules: default mode, default and maximum claim length, and resource dependencies.
 *
 * A dependency "A depends on B" makes claims on A and on B conflict, in both directions (not transitively:
 * with A→B and B→C, A and C stay independent). A start locks its resource and reads `hasDependencies`
 * with the live claims; a resource with rules is started again with its whole scope (services/work/start.ts,
 * through `relatedResources`: storage/queries/dependencies.ts) locked in sorted order. Rules are stored as
 * given (deduplicated); a resource depending on itself is refused; cycles are harmless.
 */
import {
  type DependencyRule,
  formatResource,
  parseWorkResource,
  type ResourceRef,
  type Rules,
  type RulesUpdateRequest,
} from '@availsync/protocol';
import { errors } from '../errors.js';
import type { Executor } from '../storage/store.js';
import { writeAudit } from './audit-write.js';
import type { OrgRow, Principal, ServiceDeps } from './context.js';

/** At most this many dependency pairs per workspace. */
export const MAX_DEPENDENCY_EDGES = 1_000;

interface Edge {
  from: ResourceRef;
  to: ResourceRef;
}

/** Validate and normalise dependency rules: 400 with a detail per bad field; duplicates dropped. */
export function normalizeDependencies(rules: DependencyRule[]): Edge[] {
  const bad: Record<string, string> = {};
  const edges = new Map<string, Edge>();
  rules.forEach((rule, i) => {
    const from = parseWorkResource(rule.resource);
    if (!from.ok) {
      bad[`dependencies.${i}.resource`] = from.message;
      return;
    }
    rule.depends_on.forEach((raw, j) => {
      const to = parseWorkResource(raw);
      if (!to.ok) bad[`dependencies.${i}.depends_on.${j}`] = to.message;
      else if (formatResource(to.value) === formatResource(from.value)) {
        bad[`dependencies.${i}.depends_on.${j}`] = 'a resource cannot depend on itself';
      } else edges.set(`${formatResource(from.value)}\u0000${formatResource(to.value)}`, { from: from.value, to: to.value });
    });
  });
  if (Object.keys(bad).length > 0) throw errors.invalid('Some dependency rules are not valid', bad);
  if (edges.size > MAX_DEPENDENCY_EDGES) {
    throw errors.invalid(`At most ${MAX_DEPENDENCY_EDGES} dependency pairs per workspace`, { dependencies: 'too many pairs' });
  }
  return [...edges.values()];
}

function groupEdges(
  rows: { resource_type: string; resource_key: string; depends_on_type: string; depends_on_key: string }[],
): DependencyRule[] {
  const grouped = new Map<string, string[]>();
  for (const r of rows) {
    const from = `${r.resource_type}:${r.resource_key}`;
    const list = grouped.get(from) ?? [];
    list.push(`${r.depends_on_type}:${r.depends_on_key}`);
    grouped.set(from, list);
  }
  return [...grouped.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([resource, deps]) => ({ resource, depends_on: deps.sort() }));
}

export class RulesService {
  constructor(private readonly deps: ServiceDeps) {}

  private async read(
    ex: Executor,
    org: Pick<OrgRow, 'id' | 'default_mode' | 'default_claim_minutes' | 'max_claim_minutes'>,
  ): Promise<Rules> {
    const rows = await ex.selectFrom('resource_dependencies').selectAll().where('org_id', '=', org.id).execute();
    return {
      default_mode: org.default_mode === 'observe' ? 'observe' : 'enforce',
      default_claim_minutes: org.default_claim_minutes,
      max_claim_minutes: org.max_claim_minutes,
      dependencies: groupEdges(rows),
    };
  }

  async get(p: Principal): Promise<Rules> {
    const db = this.deps.store.db;
    const org = (await db.selectFrom('orgs').selectAll().where('id', '=', p.org.id).executeTakeFirst()) ?? p.org;
    return this.read(db, org);
  }

  /** PUT: omitted fields keep their values; `dependencies`, when given, replaces the whole list. Audited. */
  async update(p: Principal & { kind: 'user' }, input: RulesUpdateRequest): Promise<Rules> {
    const edges = input.dependencies === undefined ? undefined : normalizeDependencies(input.dependencies);
    const { store } = this.deps;
    return store.transaction(async (trx) => {
      // One rules change at a time per workspace; the before/after in the audit row is exact.
      const org = (await store.lockOrg(trx, p.org.id)) ?? p.org;
      const before = await this.read(trx, org);
      const fields = {
        default_mode: input.default_mode ?? before.default_mode,
        default_claim_minutes: input.default_claim_minutes ?? before.default_claim_minutes,
        max_claim_minutes: input.max_claim_minutes ?? before.max_claim_minutes,
      };
      if (fields.default_claim_minutes > fields.max_claim_minutes) {
        throw errors.invalid(
          `default_claim_minutes (${fields.default_claim_minutes}) may not exceed max_claim_minutes (${fields.max_claim_minutes})`,
          {
            [input.default_claim_minutes !== undefined ? 'default_claim_minutes' : 'max_claim_minutes']:
              'default_claim_minutes must be at most max_claim_minutes',
          },
        );
      }
      await trx.updateTable('orgs').set(fields).where('id', '=', org.id).execute();
      const now = this.deps.clock.now();
      if (edges !== undefined) {
        await trx.deleteFrom('resource_dependencies').where('org_id', '=', org.id).execute();
        const rows = edges.map((e) => ({
          org_id: org.id,
          resource_type: e.from.resource_type,
          resource_key: e.from.resource_key,
          depends_on_type: e.to.resource_type,
          depends_on_key: e.to.resource_key,
          created_at: now,
        }));
        for (let i = 0; i < rows.length; i += 200) {
          await trx
            .insertInto('resource_dependencies')
            .values(rows.slice(i, i + 200))
            .execute();
        }
      }
      const after = await this.read(trx, { id: org.id, ...fields });
      const changed = (Object.keys(after) as (keyof Rules)[]).filter((k) => JSON.stringify(after[k]) !== JSON.stringify(before[k]));
      if (changed.length > 0) {
        await writeAudit(trx, now, {
          org_id: org.id,
          actor: { type: 'user', id: p.userId },
          event: 'rules.updated',
          details: { changed, before, after },
        });
      }
      return after;
    });
  }
}
