/**
 * Hook files, edited as parsed JSON and written back with their own indentation (they are machine-written):
 * Claude Code's settings (the command hook, or the http hooks the server serves), Codex's hooks.json
 * (Claude Code's shape) and Cursor's hooks.json (flat lists). Every hook that is not Availsync's stays.
 */
import { ConfigFileError, deepEqual, indentUnit, isObject, parseJsonConfig } from './edit.js';

export const CLAUDE_HOOK_MATCHER = 'Edit|Write|MultiEdit|NotebookEdit';

/** Claude Code's http hook route on an Availsync server. */
export const CLAUDE_HOOK_ROUTE = '/v1/hooks/claude-code';

export type HookClient = 'claude' | 'codex' | 'cursor';

const HOOK_COMMAND: Record<HookClient, RegExp> = {
  claude: hookCommand('claude'),
  codex: hookCommand('codex'),
  cursor: hookCommand('cursor'),
};
function hookCommand(client: HookClient): RegExp {
  return new RegExp(String.raw`(?:\bavailsync|@availsync\/cli|[\\/]packages[\\/]cli[\\/]dist[\\/]bin\.js)['"]?\s+hook\s+${client}\b`);
}

/**
 * Whether a hook command is Availsync's `hook <client>`, however it starts the CLI: the published package
 * (`npx -y @availsync/cli`), a global `availsync`, or a clone's `packages/cli/dist/bin.js`, quoted or not.
 */
export function isAvailsyncHook(command: unknown, client: HookClient): boolean {
  return typeof command === 'string' && HOOK_COMMAND[client].test(command);
}

/** Whether a Claude Code hook (any type) is one of Availsync's: the http hook to the route, or the CLI's command hook. */
export function isAvailsyncClaudeHookEntry(h: unknown): boolean {
  if (!isObject(h)) return false;
  if (h.type === 'http' && typeof h.url === 'string') return h.url.replace(/\/+$/, '').endsWith(CLAUDE_HOOK_ROUTE);
  return isAvailsyncHook(h.command, 'claude');
}

/**
 * The ways setup itself starts the CLI in a hook, just before `hook claude`: the published package, or a
 * clone's Node and `packages/cli/dist/bin.js` (each word plain, single-quoted with `'\''` escapes, or
 * double-quoted).
 */
const SETUP_LAUNCHER =
  /(?:npx -y @availsync\/cli|(?:'(?:[^']|'\\'')*'|"[^"]*"|[^\s'"]+)\s+(?:'(?:[^']|'\\'')*'|"[^"]*"|[^\s'"]+)(?<=[\\/]packages[\\/]cli[\\/]dist[\\/]bin\.js['"]?))(?=\s+hook\s+claude\b)/;

/**
 * `command` with the way it starts the CLI replaced by `launcher`, when that is a way setup writes
 * (SETUP_LAUNCHER); everything around it (`cd … &&`, `--resource`, `--on-unavailable`) stays. Any other
 * form (a global `availsync`, a wrapper script) is the user's own and is returned unchanged.
 */
export function withLauncher(command: string, launcher: string): string {
  return command.replace(SETUP_LAUNCHER, () => launcher);
}

/** The hook wanted in an event: a fixed one, or one made from the hook of ours already there (if any). */
export type HookValue = Record<string, unknown> | ((current: Record<string, unknown> | undefined) => Record<string, unknown>);

/** One event's Availsync hook in a Claude Code–shaped hooks file (Claude Code settings, Codex hooks.json). */
export interface HookGroupSpec {
  event: string;
  matcher?: string | undefined;
  hook: HookValue;
}

/** One event's Availsync hook in Cursor's `.cursor/hooks.json` (`{version: 1, hooks: {event: [{command, ...}]}}`). */
export type CursorHookSpec = Omit<HookGroupSpec, 'matcher'>;

function serialize(data: Record<string, unknown>, text: string | null): string {
  return `${JSON.stringify(data, null, text ? indentUnit(text) : 2)}\n`;
}

/**
 * Put `specs` into the `hooks` of a hooks file, keeping every hook that is not ours (`isOurs`) where it is.
 * `groups` (Claude Code's shape, `{hooks: {Event: [{matcher, hooks: [...]}]}}`) or `flat` (Cursor's,
 * `{hooks: {event: [{command, ...}]}}`). In each event the first hook of ours is replaced in place by the
 * wanted one (in `groups`, its group takes the wanted matcher when it holds nothing else), any other of
 * ours is removed (a group left empty goes too), and when there was none one is appended. Events ours
 * appear in but `specs` does not name lose ours. Returns `text` when nothing changes.
 */
function setHooks(
  text: string | null,
  file: string,
  specs: HookGroupSpec[],
  isOurs: (h: unknown) => boolean,
  layout: 'groups' | 'flat',
  defaults: Record<string, unknown> = {},
): string {
  const data = text === null ? {} : parseJsonConfig(text, file);
  const hooks = data.hooks ?? {};
  if (!isObject(hooks)) throw new ConfigFileError(`${file}: "hooks" is not an object; it was not changed.`);
  const next: Record<string, unknown> = { ...hooks };
  for (const event of new Set([...specs.map((s) => s.event), ...Object.keys(hooks)])) {
    const spec = specs.find((s) => s.event === event);
    const list = hooks[event] ?? [];
    if (!Array.isArray(list)) {
      if (spec) throw new ConfigFileError(`${file}: "hooks.${event}" is not an array; it was not changed.`);
      continue;
    }
    const want = (current: unknown) =>
      spec && (typeof spec.hook === 'function' ? spec.hook(isObject(current) ? current : undefined) : spec.hook);
    let placed: unknown = null;
    /** `hooks` without ours, but for the wanted hook where the first of ours was. */
    const replaceOurs = (hooks: unknown[]) =>
      hooks.flatMap((h) => {
        if (!isOurs(h)) return [h];
        if (!spec || placed) return [];
        placed = want(h);
        return [placed];
      });
    const updated: unknown[] = [];
    for (const g of list) {
      if (layout === 'flat') updated.push(...replaceOurs([g]));
      else if (!isObject(g) || !Array.isArray(g.hooks) || !g.hooks.some(isOurs)) updated.push(g);
      else {
        const kept = replaceOurs(g.hooks);
        if (kept.length === 0) continue;
        if (spec && kept.length === 1 && kept[0] === placed) {
          const { matcher: _matcher, hooks: _hooks, ...rest } = g;
          updated.push({ ...(spec.matcher ? { matcher: spec.matcher } : {}), ...rest, hooks: kept });
        } else updated.push({ ...g, hooks: kept });
      }
    }
    if (spec && !placed) {
      const hook = want(undefined);
      updated.push(layout === 'flat' ? hook : { ...(spec.matcher ? { matcher: spec.matcher } : {}), hooks: [hook] });
    }
    if (updated.length === 0 && !spec) delete next[event];
    else next[event] = updated;
  }
  const result = { ...defaults, ...data, hooks: next };
  if (text !== null && deepEqual(result, data)) return text;
  return serialize(result, text);
}

/** Put `specs` into a Claude Code–shaped hooks file (Claude Code settings, Codex hooks.json): see setHooks. */
export function setHookGroups(text: string | null, file: string, specs: HookGroupSpec[], isOurs: (h: unknown) => boolean): string {
  return setHooks(text, file, specs, isOurs, 'groups');
}

/** Put `specs` into a Cursor hooks.json (version 1), keeping the user's own hooks: see setHooks. */
export function setCursorHooks(text: string | null, file: string, specs: CursorHookSpec[]): string {
  return setHooks(text, file, specs, (h) => isObject(h) && isAvailsyncHook(h.command, 'cursor'), 'flat', { version: 1 });
}

/**
 * Claude Code's command hook (`<launcher> hook claude`) on PreToolUse for edits (claim the file, block when
 * another run holds it) and SessionEnd (finish the session's run), in place of any Availsync hook (an http
 * hook too). A command hook already there keeps its place, its options and anything around it; only the
 * way it starts the CLI follows `command` (setup run again with `--local`, or without it).
 */
export function addClaudeHook(text: string | null, file: string, command: string): string {
  const launcher = command.replace(/\s+hook\s+claude$/, '');
  const hook = (current: Record<string, unknown> | undefined) =>
    current && typeof current.command === 'string' && isAvailsyncHook(current.command, 'claude')
      ? { ...current, command: withLauncher(current.command, launcher) }
      : { type: 'command', command };
  return setHookGroups(
    text,
    file,
    [
      { event: 'PreToolUse', matcher: CLAUDE_HOOK_MATCHER, hook },
      { event: 'SessionEnd', hook },
    ],
    isAvailsyncClaudeHookEntry,
  );
}

/** Set `env` variables in a Claude Code settings.local.json (never committed), keeping everything else. */
export function setClaudeEnv(text: string | null, file: string, env: Record<string, string>): string {
  const data = text === null ? {} : parseJsonConfig(text, file);
  const current = (data.env ?? {}) as Record<string, unknown>;
  if (Object.entries(env).every(([k, v]) => current[k] === v) && text !== null) return text;
  const next = { ...data, env: { ...current, ...env } };
  return serialize(next, text);
}
