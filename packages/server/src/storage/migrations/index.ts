/**
 * The migrations, in order, for Kysely's Migrator (migrate.ts). One file per change, applied once per
 * database on both stores; schema.ts describes the tables they make.
 */
import type { Migration, MigrationProvider } from 'kysely';
import * as m001 from './001_initial.js';
import * as m002 from './002_holds.js';
import * as m003 from './003_governance.js';
import * as m004 from './004_file_claim_paths.js';
import * as m005 from './005_hold_sweep.js';
import * as m006 from './006_hook_sessions.js';
import * as m007 from './007_teams.js';
import * as m008 from './008_events.js';
import * as m009 from './009_queue.js';
import * as m010 from './010_webhooks.js';

/** Migrations in order. Add new files here; never edit one that has shipped. */
export const migrationProvider: MigrationProvider = {
  async getMigrations(): Promise<Record<string, Migration>> {
    return {
      '001_initial': m001,
      '002_holds': m002,
      '003_governance': m003,
      '004_file_claim_paths': m004,
      '005_hold_sweep': m005,
      '006_hook_sessions': m006,
      '007_teams': m007,
      '008_events': m008,
      '009_queue': m009,
      '010_webhooks': m010,
    };
  },
};
