/** The in-process floor: the same claim work (start + finish through the services), with no HTTP. */
import { randomUUID } from 'node:crypto';
import { systemClock } from '../packages/server/src/clock.js';
import { loadConfig } from '../packages/server/src/config.js';
import { silentLogger } from '../packages/server/src/logger.js';
import { sha256 } from '../packages/server/src/security/keys.js';
import { createAvailsync } from '../packages/server/src/server.js';
import type { Principal } from '../packages/server/src/services/context.js';
import { createPostgresStore, createSqliteStore } from '../packages/server/src/storage/store.js';
import { type RunResult, runClosedLoop } from './loadgen.js';
import { tempDatabase, tempDataDir } from './servers.js';

export async function inProcessFloor(kind: 'sqlite' | 'postgres', clients: number, seconds: number, warmupSeconds = 0): Promise<RunResult> {
  const data = kind === 'sqlite' ? tempDataDir() : undefined;
  const db = kind === 'postgres' ? await tempDatabase() : undefined;
  const store = data
    ? createSqliteStore({ dataDir: data.dir, clock: systemClock })
    : createPostgresStore({ url: db!.url, clock: systemClock });
  const config = loadConfig({ AVAILSYNC_DEFAULT_PLAN: 'unlimited', LOG_LEVEL: 'silent' });
  const app = await createAvailsync({ config, store, logger: silentLogger, sweeper: false });
  const { services } = app;
  const { view } = await services.accounts.signup({
    email: `floor-${randomUUID()}@example.com`,
    password: 'benchmark-password',
    workspace_name: 'Floor',
  });
  const org = await store.db.selectFrom('orgs').selectAll().where('id', '=', view.workspace.id).executeTakeFirstOrThrow();
  const user: Principal & { kind: 'user' } = { kind: 'user', org, userId: view.user.id, sessionHash: '', role: 'owner' };
  const principals: Principal[] = [];
  for (let i = 0; i < clients; i++) {
    const created = await services.agents.create(user, { name: `floor-${i}` }, undefined);
    const found = await services.keys.resolve(sha256((created.body as { api_key: string }).api_key));
    principals.push({ kind: 'agent', org: found!.org, agent: found!.agent });
  }
  const result = await runClosedLoop(
    clients,
    seconds,
    async (i, timed) => {
      const p = principals[i]!;
      const started = await timed(() =>
        services.work.start(p, { resource: `repo:floor/client-${i}`, duration_minutes: 5, idempotency_key: randomUUID() }),
      );
      const body = started.body as { action: string; claim: { id: string } };
      if (body.action !== 'proceed') return 'skip';
      await timed(() => services.work.finish(p, body.claim.id, {}));
      return 'ok';
    },
    warmupSeconds,
  );
  await app.close();
  data?.drop();
  await db?.drop();
  return result;
}
