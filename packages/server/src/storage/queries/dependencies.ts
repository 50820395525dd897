/**
 * Resource dependency rules as the claim path reads them (services/rules.ts writes them). A rule "A
 * depends on B" relates A and B in both directions, so each read is two selects: the rule's resource
 * side and its `depends_on` side.
 */
import { param, prepare } from '../prepared.js';
import type { Executor } from '../store.js';

/** The rules touching the resource (`type`, `key`) of workspace `org`: each selects the resources they relate it to. */
function dependencyEdges(db: Executor, org: string, type: string, key: string) {
  const rules = db.selectFrom('resource_dependencies').where('org_id', '=', org);
  return [
    rules
      .select(['depends_on_type as resource_type', 'depends_on_key as resource_key'])
      .where('resource_type', '=', type)
      .where('resource_key', '=', key),
    rules.select(['resource_type', 'resource_key']).where('depends_on_type', '=', type).where('depends_on_key', '=', key),
  ] as const;
}

/** Read by a start on a resource that has rules, and by `check`: prepared once. */
const related = prepare((db) => {
  const [forward, reverse] = dependencyEdges(db, param('org'), param('type'), param('key'));
  return forward.union(reverse);
});

/** Every resource a dependency rule relates to (`type`, `key`), in either direction (itself left out). */
export async function relatedResources(
  ex: Executor,
  orgId: string,
  ref: { resource_type: string; resource_key: string },
): Promise<{ resource_type: string; resource_key: string }[]> {
  const rows = await related.execute(ex, { org: orgId, type: ref.resource_type, key: ref.resource_key });
  return rows.filter((r) => r.resource_type !== ref.resource_type || r.resource_key !== ref.resource_key);
}

/**
 * Whether any dependency rule relates the resource (`type`, `key`) of workspace `org` to another, as a
 * boolean column `related` of a one-row table `rules` (a start reads it with the resource's live claims).
 */
export function hasDependencies(db: Executor, org: string, type: string, key: string) {
  const [forward, reverse] = dependencyEdges(db, org, type, key);
  return db.selectNoFrom((eb) => eb.or([eb.exists(forward), eb.exists(reverse)]).as('related')).as('rules');
}
