/**
 * Output: human lines by default, JSON with --json. Colours only on a TTY (NO_COLOR turns them off,
 * FORCE_COLOR on), a spinner while waiting on the network only when stderr is a TTY, plain lines otherwise.
 * The wrapper's own messages go to stderr, so a wrapped command's stdout stays its own.
 */
import { spinner } from '@clack/prompts';

/** Ctrl-C while a spinner waits on the network. */
export class CancelledError extends Error {
  constructor() {
    super('Cancelled');
  }
}

export interface Stream {
  write(chunk: string): unknown;
  isTTY?: boolean | undefined;
  columns?: number | undefined;
}

export interface Io {
  stdout: Stream;
  stderr: Stream;
  env: NodeJS.ProcessEnv;
  /** Hook input (`availsync hook claude` reads Claude Code's JSON here). */
  stdin?: NodeJS.ReadableStream | undefined;
}

const CODES = { red: [31, 39], green: [32, 39], yellow: [33, 39], cyan: [36, 39], dim: [2, 22], bold: [1, 22] } as const;
export type Colour = keyof typeof CODES;

export function colourEnabled(stream: Stream, env: NodeJS.ProcessEnv): boolean {
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  if (env.FORCE_COLOR !== undefined && env.FORCE_COLOR !== '0') return true;
  return stream.isTTY === true && env.TERM !== 'dumb';
}

export function createUi(io: Io, json: boolean) {
  const paint = (stream: Stream) => {
    const on = colourEnabled(stream, io.env);
    return (colour: Colour, text: string) => (on ? `\u001b[${CODES[colour][0]}m${text}\u001b[${CODES[colour][1]}m` : text);
  };
  const out = paint(io.stdout);
  const err = paint(io.stderr);
  return {
    json,
    /** stdout colours. */
    c: out,
    /** stderr colours. */
    e: err,
    line(text = '') {
      io.stdout.write(`${text}\n`);
    },
    info(text: string) {
      io.stderr.write(`${err('dim', 'availsync:')} ${text}\n`);
    },
    warn(text: string) {
      io.stderr.write(`${err('yellow', err('bold', 'availsync: WARNING:'))} ${err('yellow', text)}\n`);
    },
    error(text: string) {
      io.stderr.write(`${err('red', err('bold', 'availsync: error:'))} ${text}\n`);
    },
    printJson(value: unknown) {
      io.stdout.write(`${JSON.stringify(value)}\n`);
    },
    /** Run `fn` with a spinner on an interactive stderr (never in --json mode); plain otherwise. */
    async wait<T>(text: string, fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
      const controller = new AbortController();
      if (json || io.stderr.isTTY !== true || io.env.CI) return fn(controller.signal);
      const s = spinner({
        output: io.stderr as NodeJS.WritableStream as never,
        withGuide: false,
        onCancel: () => controller.abort(new CancelledError()),
      });
      s.start(text);
      try {
        return await fn(controller.signal);
      } finally {
        s.clear();
      }
    },
  };
}

export type Ui = ReturnType<typeof createUi>;

/** A timestamp as `2026-05-22 10:30 UTC (in 45 min)`. */
export function when(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return '-';
  const at = Date.parse(iso);
  if (Number.isNaN(at)) return iso;
  const d = new Date(at);
  const text = `${d.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
  const mins = Math.round((at - now) / 60_000);
  const rel =
    Math.abs(mins) < 1
      ? 'now'
      : mins > 0
        ? `in ${mins < 120 ? `${mins} min` : `${Math.round(mins / 60)} h`}`
        : `${-mins < 120 ? `${-mins} min` : `${Math.round(-mins / 60)} h`} ago`;
  return `${text} (${rel})`;
}

/** A plain table: columns padded to their widest cell. */
export function table(rows: string[][]): string {
  const widths: number[] = [];
  for (const row of rows) {
    row.forEach((cell, i) => {
      widths[i] = Math.max(widths[i] ?? 0, cell.length);
    });
  }
  return rows.map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i] ?? 0))).join('  ')).join('\n');
}
