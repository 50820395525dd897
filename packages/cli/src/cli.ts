/**
 * The `availsync` command: run, check, list, finish, hold create|release|list, availability, watch.
 * `main(argv, io)` returns the exit code and never calls process.exit, so it runs in-process in tests.
 */
import { type AvailsyncClient, AvailsyncError, type ClaimStatus, type HoldStatus, type Outcome } from '@availsync/node';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { CLI_VERSION, type CliConfig, ConfigError, clientFor, EXIT, loadConfig } from './config.js';
import { agentHook, guard, installGuard } from './hooks/index.js';
import { describeHolder, hint, isUnavailable, runCommand } from './run.js';
import { CancelledError, createUi, type Io, table, type Ui, when } from './ui.js';
import { watch } from './watch.js';

function int(name: string, min: number, max: number) {
  return (value: string) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min || n > max) throw new InvalidArgumentError(`${name} must be a whole number from ${min} to ${max}`);
    return n;
  };
}

/** `--wait`: `10m`, `90s`, `1h`, or plain seconds; at most 900 s. */
export function waitDuration(value: string): number {
  const m = /^(\d+)(s|m|h)?$/.exec(value.trim());
  const n = m ? Number(m[1]) * ({ s: 1, m: 60, h: 3600 } as const)[(m[2] ?? 's') as 's' | 'm' | 'h'] : Number.NaN;
  if (!Number.isInteger(n) || n < 0 || n > 900) {
    throw new InvalidArgumentError('--wait takes a duration up to 15m, like 90s, 10m or 0');
  }
  return n;
}

function seconds(value: string) {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('must be a positive number of seconds');
  return n;
}

/** An RFC 3339 time, or relative to now: +30m, +2h, +1d. */
export function parseTime(value: string, now = Date.now()): string {
  const rel = /^\+(\d+(?:\.\d+)?)([mhd])$/.exec(value.trim());
  if (rel) {
    const unit = { m: 60_000, h: 3_600_000, d: 86_400_000 }[rel[2] as 'm' | 'h' | 'd'];
    return new Date(now + Number(rel[1]) * unit).toISOString();
  }
  const at = Date.parse(value);
  if (Number.isNaN(at)) throw new InvalidArgumentError('use an RFC 3339 time (2026-06-01T10:00:00Z) or +30m / +2h / +1d');
  return new Date(at).toISOString();
}

interface Context {
  io: Io;
  code: number;
}

const jsonOption = () => new Option('--json', 'print JSON for scripts instead of human lines');

/** Load config, make a client and a UI, run `fn`, and turn API errors into messages and exit codes. */
async function act(ctx: Context, json: boolean | undefined, fn: (client: AvailsyncClient, ui: Ui) => Promise<number>) {
  const ui = createUi(ctx.io, json === true);
  let client: AvailsyncClient;
  try {
    client = clientFor(loadConfig(ctx.io.env));
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    ui.error(err.message);
    ctx.code = EXIT.usage;
    return;
  }
  try {
    ctx.code = await fn(client, ui);
  } catch (err) {
    if (err instanceof CancelledError) {
      ctx.code = 130;
      return;
    }
    if (!(err instanceof AvailsyncError)) throw err;
    if (ui.json) ui.printJson({ error: err.toJSON() });
    ui.error(`${err.message}${hint(err)}`);
    ctx.code = isUnavailable(err) ? EXIT.unavailable : EXIT.api;
  }
}

function statusColour(ui: Ui, status: string): string {
  return status === 'active' ? ui.c('green', status) : status === 'preempted' || status === 'expired' ? ui.c('yellow', status) : status;
}

export function buildProgram(ctx: Context): Command {
  const program = new Command('availsync')
    .description('Guard commands, cron jobs and CI steps with Availsync work claims.')
    .version(CLI_VERSION)
    .enablePositionalOptions()
    .exitOverride()
    .configureOutput({
      writeOut: (s) => ctx.io.stdout.write(s),
      writeErr: (s) => ctx.io.stderr.write(s),
    })
    .addHelpText(
      'after',
      `
Configuration (environment):
  AVAILSYNC_API_KEY   the agent's API key (avs_live_...)         required
  AVAILSYNC_AGENT_ID  the agent's id (checked against the key)    recommended
  AVAILSYNC_API_URL   the server (default http://127.0.0.1:8787)

Example (cron):
  */30 * * * * availsync run repo:owner/repo --duration 45 -- ./nightly-maintenance.sh`,
    );

  program
    .command('run')
    .description('Run a command under a claim on <resource>: skip it when another run holds the resource')
    .argument('<resource>', 'type:key, e.g. repo:owner/repo')
    .argument('<command...>', 'the command and its arguments (after --)')
    .option('--duration <minutes>', 'lease length in minutes (1-720; default: the workspace default, 30)', int('--duration', 1, 720))
    .option('--reason <text>', 'why this run needs the resource (shown to blocked runs)')
    .option('--idempotency-key <key>', 'one key per logical run: a second run with the same key is skipped')
    .option('--skip-exit-code <n>', 'exit code when the run is skipped', int('--skip-exit-code', 0, 255), 0)
    .addOption(
      new Option('--on-unavailable <policy>', 'when the server cannot be reached: fail (exit 69) or run unguarded with a warning')
        .choices(['fail', 'run'])
        .default('fail'),
    )
    .option('--extend-every <seconds>', 'extend the lease this often (default: every half lease)', seconds)
    .option('--stop-on-lease-loss', 'send SIGTERM to the command if the lease is lost (default: warn and let it run)', false)
    .option('--wait <duration>', 'wait in the queue while the resource is held (e.g. 90s, 10m; at most 15m; default 0)', waitDuration)
    .addOption(jsonOption())
    .action(async (resource: string, command: string[], o) => {
      await act(ctx, o.json, (client, ui) =>
        runCommand(
          client,
          resource,
          command,
          {
            duration: o.duration,
            reason: o.reason,
            idempotencyKey: o.idempotencyKey,
            skipExitCode: o.skipExitCode,
            onUnavailable: o.onUnavailable,
            json: o.json === true,
            extendEvery: o.extendEvery,
            stopOnLeaseLoss: o.stopOnLeaseLoss === true,
            wait: o.wait,
          },
          ui,
          ctx.io,
        ),
      );
    });

  program
    .command('check')
    .description('Would a run on <resource> proceed now? Exit 0 if available, 3 if held by another run')
    .argument('<resource>', 'type:key, e.g. repo:owner/repo')
    .option('--duration <minutes>', 'lease length to ask about', int('--duration', 1, 720))
    .addOption(jsonOption())
    .action(async (resource: string, o) => {
      await act(ctx, o.json, async (client, ui) => {
        const res = await ui.wait(`Checking ${resource}`, (signal) =>
          client.work.check({ resource, durationMinutes: o.duration }, { signal }),
        );
        if (ui.json) ui.printJson(res);
        else if (res.available) ui.line(`${ui.c('green', 'available')}  ${resource}${res.mode === 'observe' ? ' (observe mode)' : ''}`);
        else ui.line(`${ui.c('yellow', 'held')}  ${resource}: ${res.reason ?? 'blocked'}. Held by ${describeHolder(res.blocking_claim)}.`);
        return res.available ? 0 : EXIT.busy;
      });
    });

  program
    .command('list')
    .description("This agent's claims, newest first")
    .option('--resource <resource>', 'only this resource')
    .addOption(new Option('--status <status>', 'only this status').choices(['active', 'released', 'expired', 'preempted']))
    .option('--limit <n>', 'page size (1-100)', int('--limit', 1, 100), 20)
    .option('--offset <n>', 'skip this many', int('--offset', 0, 1_000_000), 0)
    .addOption(jsonOption())
    .action(async (o) => {
      await act(ctx, o.json, async (client, ui) => {
        const res = await ui.wait('Listing claims', (signal) =>
          client.work.list(
            { resource: o.resource, status: o.status as ClaimStatus | undefined, limit: o.limit, offset: o.offset },
            { signal },
          ),
        );
        if (ui.json) {
          ui.printJson(res);
          return 0;
        }
        if (res.data.length === 0) {
          ui.line('No claims.');
          return 0;
        }
        const rows = [['CLAIM', 'RESOURCE', 'STATUS', 'EXPIRES', 'FILES', 'REASON']];
        for (const c of res.data) {
          rows.push([
            c.id,
            c.resource,
            c.status,
            c.status === 'active' ? when(c.expires_at) : '-',
            String(c.working_set.length),
            c.reason ?? '',
          ]);
        }
        const lines = table(rows).split('\n');
        ui.line(ui.c('bold', lines[0] ?? ''));
        res.data.forEach((c, i) => {
          ui.line((lines[i + 1] ?? '').replace(c.status, statusColour(ui, c.status)));
        });
        const p = res.pagination;
        ui.line(
          ui.c(
            'dim',
            `${p.offset + 1}-${p.offset + res.data.length} of ${p.total}${p.has_more ? ` (more: --offset ${p.offset + res.data.length})` : ''}`,
          ),
        );
        return 0;
      });
    });

  program
    .command('finish')
    .description('Finish (release) a claim; safe to repeat')
    .argument('<claim-id>', 'clm_...')
    .addOption(
      new Option('--outcome <outcome>', 'how the run ended').choices(['finished', 'error', 'noop', 'cancelled']).default('finished'),
    )
    .option('--reason <text>', 'recorded in the audit log')
    .addOption(jsonOption())
    .action(async (claimId: string, o) => {
      await act(ctx, o.json, async (client, ui) => {
        const res = await ui.wait(`Finishing ${claimId}`, (signal) =>
          client.work.finish(claimId, { outcome: o.outcome as Outcome, reason: o.reason }, { signal }),
        );
        if (ui.json) ui.printJson(res);
        else if (res.action === 'finished')
          ui.line(`${ui.c('green', 'finished')}  ${res.claim.id} on ${res.claim.resource} (${res.claim.outcome})`);
        else ui.line(`already finished  ${res.claim.id} on ${res.claim.resource} (${res.claim.status})`);
        return 0;
      });
    });

  const hold = program.command('hold').description('Availability holds: reserve future windows on a resource');

  hold
    .command('create')
    .description('Hold a window on <resource> (e.g. release:prod)')
    .argument('<resource>', 'type:key, e.g. release:prod or calendar:alice')
    .requiredOption('--start <time>', 'RFC 3339 time, or +30m / +2h / +1d from now', (v) => parseTime(v))
    .option('--end <time>', 'RFC 3339 time, or +30m / +2h / +1d from now', (v) => parseTime(v))
    .option('--duration <minutes>', 'instead of --end', int('--duration', 1, 44_640))
    .option('--reason <text>', 'why')
    .option('--ttl <minutes>', 'tentative: lapses after this many minutes unless confirmed', int('--ttl', 1, 10_080))
    .option('--idempotency-key <key>', 'one key per logical hold')
    .addOption(jsonOption())
    .action(async (resource: string, o) => {
      await act(ctx, o.json, async (client, ui) => {
        if (!o.end && !o.duration) {
          ui.error('give --end or --duration');
          return EXIT.usage;
        }
        const end = o.end ?? new Date(Date.parse(o.start) + o.duration * 60_000).toISOString();
        try {
          const res = await ui.wait(`Holding ${resource}`, (signal) =>
            client.holds.create(
              { resource, startAt: o.start, endAt: end, reason: o.reason, ttlMinutes: o.ttl, idempotencyKey: o.idempotencyKey },
              { signal },
            ),
          );
          if (ui.json) ui.printJson(res);
          else {
            const h = res.hold;
            ui.line(
              `${ui.c('green', 'held')}  ${h.id}  ${h.resource}  ${when(h.start_at)} → ${when(h.end_at)}${h.expires_at ? ` (tentative until ${when(h.expires_at)})` : ''}`,
            );
          }
          return 0;
        } catch (err) {
          if (!(err instanceof AvailsyncError) || err.code !== 'hold_conflict') throw err;
          const conflicts = (err.body?.conflicts ?? []) as { id: string; start_at: string; end_at: string; reason: string | null }[];
          const next = err.body?.next_free_slot as { start_at: string; end_at: string } | null | undefined;
          if (ui.json) ui.printJson({ error: err.toJSON(), conflicts, next_free_slot: next ?? null });
          else {
            ui.line(`${ui.c('yellow', 'conflict')}  ${resource} is already held:`);
            for (const c of conflicts) ui.line(`  ${c.id}  ${when(c.start_at)} → ${when(c.end_at)}${c.reason ? `  ${c.reason}` : ''}`);
            if (next) ui.line(`next free slot: ${when(next.start_at)} → ${when(next.end_at)}`);
          }
          return EXIT.busy;
        }
      });
    });

  hold
    .command('release')
    .description('Release a hold; safe to repeat')
    .argument('<hold-id>', 'hld_...')
    .addOption(jsonOption())
    .action(async (holdId: string, o) => {
      await act(ctx, o.json, async (client, ui) => {
        const res = await ui.wait(`Releasing ${holdId}`, (signal) => client.holds.release(holdId, { signal }));
        if (ui.json) ui.printJson(res);
        else
          ui.line(`${res.action === 'released' ? ui.c('green', 'released') : 'already released'}  ${res.hold.id} on ${res.hold.resource}`);
        return 0;
      });
    });

  hold
    .command('list')
    .description('Holds of the workspace, by start time')
    .option('--resource <resource>', 'only this resource')
    .addOption(new Option('--status <status>', 'only this status').choices(['active', 'released', 'expired']))
    .option('--from <time>', 'only windows ending after this time', (v) => parseTime(v))
    .option('--to <time>', 'only windows starting before this time', (v) => parseTime(v))
    .option('--limit <n>', 'page size (1-100)', int('--limit', 1, 100), 50)
    .addOption(jsonOption())
    .action(async (o) => {
      await act(ctx, o.json, async (client, ui) => {
        const res = await ui.wait('Listing holds', (signal) =>
          client.holds.list(
            { resource: o.resource, status: o.status as HoldStatus | undefined, from: o.from, to: o.to, limit: o.limit },
            { signal },
          ),
        );
        if (ui.json) {
          ui.printJson(res);
          return 0;
        }
        if (res.data.length === 0) {
          ui.line('No holds.');
          return 0;
        }
        const rows = [['HOLD', 'RESOURCE', 'STATUS', 'START', 'END', 'REASON']];
        for (const h of res.data) rows.push([h.id, h.resource, h.status, when(h.start_at), when(h.end_at), h.reason ?? '']);
        const lines = table(rows).split('\n');
        ui.line(ui.c('bold', lines[0] ?? ''));
        for (const l of lines.slice(1)) ui.line(l);
        return 0;
      });
    });

  program
    .command('watch')
    .description("Print the workspace's live events as they happen (one line each; Ctrl-C to stop)")
    .argument('[resource]', 'only events about this resource, e.g. repo:owner/repo')
    .option('--types <list>', 'only these event types, comma-separated (e.g. claim.started,run.skipped)')
    .addOption(jsonOption())
    .action(async (resource: string | undefined, o) => {
      const ui = createUi(ctx.io, o.json === true);
      let config: CliConfig;
      try {
        config = loadConfig(ctx.io.env);
      } catch (err) {
        if (!(err instanceof ConfigError)) throw err;
        ui.error(err.message);
        ctx.code = EXIT.usage;
        return;
      }
      const stop = new AbortController();
      const onInt = () => stop.abort();
      process.once('SIGINT', onInt);
      process.once('SIGTERM', onInt);
      try {
        ctx.code = await watch(config, { resource, types: o.types, json: o.json === true, signal: stop.signal }, ui, ctx.io);
      } finally {
        process.off('SIGINT', onInt);
        process.off('SIGTERM', onInt);
      }
    });

  program
    .command('availability')
    .description('Busy and free windows of <resource>, and the first free slot of --duration')
    .argument('<resource>', 'type:key, e.g. release:prod')
    .option('--from <time>', 'default: now', (v) => parseTime(v))
    .option('--to <time>', 'default: 7 days after --from', (v) => parseTime(v))
    .option('--duration <minutes>', 'find the first free slot of this length', int('--duration', 1, 44_640))
    .addOption(jsonOption())
    .action(async (resource: string, o) => {
      await act(ctx, o.json, async (client, ui) => {
        const res = await ui.wait(`Reading availability of ${resource}`, (signal) =>
          client.availability.get({ resource, from: o.from, to: o.to, durationMinutes: o.duration }, { signal }),
        );
        if (ui.json) {
          ui.printJson(res);
          return 0;
        }
        ui.line(`${ui.c('bold', res.resource)}  ${when(res.from)} → ${when(res.to)}`);
        for (const b of res.busy) ui.line(`  ${ui.c('yellow', 'busy')}  ${when(b.start_at)} → ${when(b.end_at)}  ${b.hold_id}`);
        for (const f of res.free) ui.line(`  ${ui.c('green', 'free')}  ${when(f.start_at)} → ${when(f.end_at)}`);
        if (o.duration) {
          ui.line(
            res.first_free_slot
              ? `first free ${o.duration} min: ${when(res.first_free_slot.start_at)} → ${when(res.first_free_slot.end_at)}`
              : `no free window of ${o.duration} min in this range`,
          );
        }
        return 0;
      });
    });

  const hook = program.command('hook').description('Enforcement hooks for coding agents (the command form of /v1/hooks/*)');
  const HOOK_HELP = {
    claude:
      "Claude Code hook (any event): PreToolUse of Edit|Write|MultiEdit|NotebookEdit claims the file, Bash's PostToolUse the files the command changed; prints the server's JSON",
    codex:
      "Codex hook (any event): PreToolUse of apply_patch claims the patched files, Bash's PostToolUse the files the command changed; prints the server's JSON",
    cursor:
      "Cursor hook (any event): preToolUse of Write|Edit|StrReplace|Delete claims the file, afterFileEdit and afterShellExecution the changed files; prints the server's JSON",
  } as const;
  for (const which of ['claude', 'codex', 'cursor'] as const) {
    hook
      .command(which)
      .description(HOOK_HELP[which])
      .option('--resource <resource>', 'the repository (default: AVAILSYNC_RESOURCE, else from git: repo:owner/name of the remote origin)')
      .addOption(
        new Option('--scope <scope>', "repo: the session's run is on the repository; files: sessions conflict only on the files they touch")
          .choices(['repo', 'files'])
          .default('repo'),
      )
      .addOption(
        new Option(
          '--on-unavailable <policy>',
          'when the server cannot be reached: fail (refuse the edit) or run (allow it, with a warning)',
        )
          .choices(['fail', 'run'])
          .default('fail'),
      )
      .action(async (o) => {
        ctx.code = await agentHook(
          which,
          { resource: o.resource, scope: o.scope, onUnavailable: o.onUnavailable },
          createUi(ctx.io, false),
          ctx.io,
        );
      });
  }

  const guardCmd = program
    .command('guard')
    .description(
      "git pre-commit / pre-push hook: fail when the run's claim is no longer active or the files being committed (staged) or pushed are held by another run",
    )
    .option('--pre-push', "check the files changed by the commits being pushed (git's ref lines on stdin), not the staged ones", false)
    .option('--resource <resource>', 'working-set resource (default: repo:owner/name from the git remote origin)')
    .addOption(
      new Option('--on-unavailable <policy>', 'when the server cannot be reached: fail or run').choices(['fail', 'run']).default('fail'),
    )
    .action(async (o) => {
      const ui = createUi(ctx.io, false);
      const { client, config, error } = hookClient(ctx.io.env);
      ctx.code = await guard(
        client,
        config,
        error,
        { resource: o.resource, onUnavailable: o.onUnavailable, prePush: o.prePush === true },
        ui,
        ctx.io,
      );
    });
  guardCmd
    .command('install')
    .description('write the git hook (.git/hooks/pre-commit, or pre-push); an existing hook is kept and runs first')
    .option('--pre-push', 'install as pre-push instead of pre-commit', false)
    .option('--command <cmd>', 'how the hook calls the CLI', 'availsync')
    .action((o) => {
      ctx.code = installGuard({ prePush: o.prePush === true, command: o.command }, createUi(ctx.io, false));
    });

  return program;
}

/** The hooks handle missing configuration by their --on-unavailable policy rather than a usage error. */
function hookClient(env: NodeJS.ProcessEnv): { client: AvailsyncClient | null; config: CliConfig | null; error: string | null } {
  try {
    const config = loadConfig(env);
    // A hook runs on every edit or commit: answer fast when the server is down (one retry, 10 s a try).
    return { client: clientFor(config, { maxRetries: 1, timeoutMs: 10_000 }), config, error: null };
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    return { client: null, config: null, error: err.message };
  }
}

export async function main(argv: string[], io: Io): Promise<number> {
  const ctx: Context = { io, code: 0 };
  const program = buildProgram(ctx);
  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version exit 0; a usage error has already been printed by commander.
      return err.exitCode === 0 ? 0 : EXIT.usage;
    }
    throw err;
  }
  return ctx.code;
}
