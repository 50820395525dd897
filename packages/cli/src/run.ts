/**
 * `availsync run <resource> [options] -- <command...>`: guard any command with a claim.
 *
 * start → (skip_run: say who holds it and until when, exit 0 or --skip-exit-code) → spawn the command with
 * AVAILSYNC_CLAIM_ID / AVAILSYNC_FENCING_TOKEN → auto-extend while it runs → forward SIGINT/SIGTERM/SIGHUP →
 * finish with `finished` (exit 0), `error` (non-zero) or `cancelled` (it died of a forwarded signal) → exit
 * with the command's code. Observe mode runs the command and prints the shadow decision. An unreachable
 * server never passes silently: --on-unavailable fail (default) exits 69 with the reason; run runs the
 * command without a claim, with a loud warning. A lost lease is a loud warning, and with
 * --stop-on-lease-loss the command gets SIGTERM.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { constants } from 'node:os';
import { type AvailsyncClient, AvailsyncError, type BlockingClaim, type Outcome } from '@availsync/node';
import { EXIT } from './config.js';
import { type Io, type Ui, when } from './ui.js';

export interface RunOptions {
  duration?: number | undefined;
  reason?: string | undefined;
  idempotencyKey?: string | undefined;
  skipExitCode: number;
  onUnavailable: 'fail' | 'run';
  json: boolean;
  /** Seconds between extends; default: half the lease. */
  extendEvery?: number | undefined;
  stopOnLeaseLoss: boolean;
  /** Seconds to wait in the resource's queue while it is blocked (0: skip at once). */
  wait?: number | undefined;
}

const FORWARDED = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
type Forwarded = (typeof FORWARDED)[number];

interface ChildExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  error?: Error;
}

export function exitCodeOf(exit: ChildExit): number {
  if (exit.error) return EXIT.notFound;
  if (exit.code !== null) return exit.code;
  return 128 + (exit.signal ? (constants.signals[exit.signal] ?? 0) : 0);
}

function waitFor(child: ChildProcess): Promise<ChildExit> {
  return new Promise((resolve) => {
    child.once('error', (error) => resolve({ code: null, signal: null, error }));
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
}

export function isUnavailable(err: unknown): err is AvailsyncError {
  return (
    err instanceof AvailsyncError &&
    (err.kind === 'network' || err.kind === 'timeout' || err.kind === 'rate_limit' || (err.status !== null && err.status >= 500))
  );
}

export function describeHolder(b: BlockingClaim | null | undefined): string {
  if (!b) return 'another run';
  const who = b.agent_name ? `${b.agent_name} (${b.agent_id})` : b.agent_id;
  return `${who}, claim ${b.id}${b.reason ? ` "${b.reason}"` : ''}, until ${when(b.expires_at)}`;
}

export async function runCommand(
  client: AvailsyncClient,
  resource: string,
  command: string[],
  opts: RunOptions,
  ui: Ui,
  io: Io,
): Promise<number> {
  const [file, ...args] = command;
  if (!file) {
    ui.error('no command to run: availsync run <resource> [options] -- <command...>');
    return EXIT.usage;
  }

  // Signals: forwarded to the command while it runs; before it starts they cancel the start.
  const received: Forwarded[] = [];
  let child: ChildProcess | undefined;
  const cancelStart = new AbortController();
  const onSignal = (sig: Forwarded) => {
    received.push(sig);
    if (!child) cancelStart.abort(new Error(`received ${sig}`));
    else if (child.exitCode === null && child.signalCode === null) child.kill(sig);
    else {
      // The command is done and the claim is being finished: a signal now means "stop waiting".
      ui.warn(`received ${sig} while finishing the claim; exiting now (the lease ends on its own at its expiry).`);
      process.exit(128 + (constants.signals[sig] ?? 0));
    }
  };
  for (const sig of FORWARDED) process.on(sig, onSignal);

  const spawnCommand = (extraEnv: Record<string, string>) => {
    child = spawn(file, args, { stdio: 'inherit', env: { ...io.env, ...extraEnv } });
    return waitFor(child);
  };
  const signalExit = () => 128 + (constants.signals[received[0] ?? 'SIGTERM'] ?? 15);

  let entered = false;
  try {
    const result = await client.work.withClaim(
      resource,
      {
        durationMinutes: opts.duration,
        reason: opts.reason,
        idempotencyKey: opts.idempotencyKey,
        waitSeconds: opts.wait,
        autoExtendIntervalMs: opts.extendEvery !== undefined ? Math.max(1, Math.round(opts.extendEvery * 1000)) : 'auto',
        signal: cancelStart.signal,
      },
      async ({ claim, shadow, signal, setOutcome }) => {
        entered = true;
        if (cancelStart.signal.aborted) {
          setOutcome('cancelled', `wrapper received ${received[0]} before the command started`);
          return { exit: null as ChildExit | null, exitCode: signalExit() };
        }
        if (shadow.enabled) {
          const d = shadow.decision;
          ui.info(
            shadow.wouldHaveBlocked
              ? `observe mode: Availsync would have skipped this run (${d?.reason ?? 'blocked'}; held by ${describeHolder(d?.blocking_claim)}). Running the command anyway; no lease is held.`
              : 'observe mode: Availsync would have let this run proceed. Running the command; no lease is held.',
          );
        } else if (claim && !opts.json) {
          ui.info(`claimed ${resource} (claim ${claim.id}, fencing token ${claim.fencingToken}, until ${when(claim.expiresAt)})`);
        }
        signal.addEventListener(
          'abort',
          () => {
            if (!claim?.lost) return;
            const why = signal.reason instanceof Error ? signal.reason.message : 'lease lost';
            if (opts.stopOnLeaseLoss) {
              ui.warn(`${why}. Stopping the command (SIGTERM, --stop-on-lease-loss).`);
              child?.kill('SIGTERM');
            } else {
              ui.warn(
                `${why}. The command is still running WITHOUT the claim's protection: another run may start on ${resource}. (--stop-on-lease-loss stops it instead.)`,
              );
            }
          },
          { once: true },
        );
        const exit = await spawnCommand(
          claim ? { AVAILSYNC_CLAIM_ID: claim.id, AVAILSYNC_FENCING_TOKEN: String(claim.fencingToken), AVAILSYNC_RESOURCE: resource } : {},
        );
        const exitCode = exitCodeOf(exit);
        let outcome: Outcome = 'finished';
        if (exit.error) {
          ui.error(`could not start ${file}: ${exit.error.message}`);
          outcome = 'error';
        } else if (received.length > 0 && (exit.signal !== null || exit.code !== 0)) {
          outcome = 'cancelled';
        } else if (exitCode !== 0) {
          outcome = 'error';
        }
        const reason =
          outcome === 'cancelled'
            ? `stopped by ${received[0]}`
            : outcome === 'error'
              ? exit.error
                ? `could not start the command: ${exit.error.message}`
                : `command exited with ${exit.signal ?? exitCode}`
              : undefined;
        setOutcome(outcome, reason);
        return { exit, exitCode };
      },
    );

    if (result.action === 'skip_run') {
      if (opts.json) {
        ui.printJson({
          action: 'skip_run',
          resource,
          reason: result.reason,
          retry_after: result.retryAfter,
          blocking_claim: result.blockingClaim,
          already_started: result.alreadyStarted ?? null,
          ran: false,
          exit_code: opts.skipExitCode,
        });
      } else if (result.alreadyStarted) {
        ui.info(`skipped ${resource}: ${result.reason}.`);
      } else {
        ui.info(`skipped ${resource}: ${result.reason}. Held by ${describeHolder(result.blockingClaim)}.`);
      }
      return opts.skipExitCode;
    }

    const { exitCode } = result.result;
    if (result.autoExtendError && !result.leaseLost) ui.warn(`an automatic lease extension failed: ${result.autoExtendError.message}`);
    if (result.finishError) {
      ui.warn(
        `the command is done but the claim could not be finished: ${result.finishError.message}. The lease ends on its own at ${when(result.claim?.expires_at)}.`,
      );
    }
    if (opts.json) {
      ui.printJson({
        action: 'proceed',
        mode: result.shadow.enabled ? 'observe' : 'enforce',
        resource,
        claim_id: result.claim?.id ?? null,
        fencing_token: result.claim?.fencing_token ?? null,
        outcome: result.outcome,
        would_have_blocked: result.shadow.enabled ? result.shadow.wouldHaveBlocked : null,
        shadow_decision: result.shadow.decision,
        lease_lost: result.leaseLost?.message ?? null,
        auto_extend_error: result.autoExtendError?.message ?? null,
        finish_error: result.finishError?.message ?? null,
        ran: result.result.exit !== null,
        exit_code: exitCode,
      });
    } else if (result.claim && result.leaseLost) {
      // The claim ended under the command (an admin's release, a preemption, an expiry): the wrapper's finish
      // found it already ended, so it did not record an outcome.
      const status = result.claim.status;
      const how =
        status === 'released'
          ? 'was released by someone else (an admin, or another process with this key)'
          : status === 'preempted'
            ? 'was preempted by a higher-priority run'
            : status === 'expired'
              ? 'expired'
              : `ended (${status})`;
      ui.info(`claim ${result.claim.id} ${how} before the command ended; exit ${exitCode}`);
    } else if (result.claim) {
      ui.info(`finished claim ${result.claim.id} as ${result.outcome}; exit ${exitCode}`);
    }
    return exitCode;
  } catch (err) {
    if (entered) throw err;
    if (cancelStart.signal.aborted) {
      ui.error(`cancelled by ${received[0]} before the command started; it was not run.`);
      return signalExit();
    }
    if (isUnavailable(err)) {
      if (opts.onUnavailable === 'run') {
        ui.warn(
          `cannot reach Availsync (${err.message}). Running the command WITHOUT a claim (--on-unavailable run): nothing stops another run on ${resource} at the same time.`,
        );
        const exit = await spawnCommand({ AVAILSYNC_UNGUARDED: '1' });
        if (exit.error) ui.error(`could not start ${file}: ${exit.error.message}`);
        if (opts.json) ui.printJson({ action: 'unguarded', resource, error: err.toJSON(), ran: !exit.error, exit_code: exitCodeOf(exit) });
        return exitCodeOf(exit);
      }
      if (opts.json) ui.printJson({ action: 'unavailable', resource, error: err.toJSON(), ran: false, exit_code: EXIT.unavailable });
      ui.error(
        `cannot reach Availsync (${err.message}). The command was NOT run (--on-unavailable fail). Use --on-unavailable run to run it unguarded.`,
      );
      return EXIT.unavailable;
    }
    if (err instanceof AvailsyncError) {
      if (opts.json) ui.printJson({ action: 'error', resource, error: err.toJSON(), ran: false, exit_code: EXIT.api });
      ui.error(`${err.message}. The command was NOT run.${hint(err)}`);
      return EXIT.api;
    }
    throw err;
  } finally {
    for (const sig of FORWARDED) process.removeListener(sig, onSignal);
  }
}

export function hint(err: AvailsyncError): string {
  if (err.status === 403) {
    return " The key is valid, but it may not do this: the claim or hold belongs to another agent (use that agent's key), or the route is for the dashboard.";
  }
  if (err.kind === 'auth') return ' Check AVAILSYNC_API_KEY (and AVAILSYNC_AGENT_ID: it must be the key’s own agent).';
  if (err.kind === 'plan_limit') return ' The workspace reached a plan limit: finish other runs or upgrade the plan.';
  return '';
}
