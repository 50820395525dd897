/**
 * Config file edits that keep every byte they do not own.
 *
 * - JSON (Cursor, Windsurf): a small scanner finds the `mcpServers` object and the `availsync` member in
 *   the text and replaces or inserts only that member; everything else (order, spacing, other servers) is
 *   left as it was. The file is parsed first: malformed JSON is an error and the file is not touched.
 * - TOML (Codex): smol-toml parses and validates, but like every TOML library it cannot write a document
 *   back with its comments and layout. So the file is validated with it, then only the
 *   `[mcp_servers.availsync]` section (and its sub-tables) is replaced or appended as text, and the result
 *   is parsed again to prove it is valid and holds exactly the entry we meant.
 */
import { parse as parseToml } from 'smol-toml';

export class ConfigFileError extends Error {}

export interface McpEntry {
  command: string;
  args: string[];
  env: Record<string, string>;
}

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

export function deepEqual(a: unknown, b: unknown): boolean {
  return JSON.stringify(sortKeys(a)) === JSON.stringify(sortKeys(b));
}
function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (isObject(v))
    return Object.fromEntries(
      Object.keys(v)
        .sort()
        .map((k) => [k, sortKeys(v[k])]),
    );
  return v;
}

// ---------------------------------------------------------------------------------------------------
// JSON

interface Member {
  key: string;
  /** Start of the key's opening quote. */
  start: number;
  valueStart: number;
  valueEnd: number;
}

interface ObjectSpan {
  open: number;
  close: number;
  members: Member[];
}

/** Positions inside a JSON text that is already known to parse. */
class Scanner {
  constructor(readonly text: string) {}
  ws(i: number): number {
    while (i < this.text.length && /\s/.test(this.text[i] as string)) i++;
    return i;
  }
  string(i: number): number {
    i++;
    while (this.text[i] !== '"') i += this.text[i] === '\\' ? 2 : 1;
    return i + 1;
  }
  value(i: number): number {
    const c = this.text[i];
    if (c === '"') return this.string(i);
    if (c === '{') return this.object(i).close + 1;
    if (c === '[') {
      i = this.ws(i + 1);
      if (this.text[i] === ']') return i + 1;
      for (;;) {
        i = this.ws(this.value(i));
        if (this.text[i] === ']') return i + 1;
        i = this.ws(i + 1);
      }
    }
    while (i < this.text.length && /[^\s,\]}]/.test(this.text[i] as string)) i++;
    return i;
  }
  object(open: number): ObjectSpan {
    const members: Member[] = [];
    let i = this.ws(open + 1);
    if (this.text[i] === '}') return { open, close: i, members };
    for (;;) {
      const start = i;
      const keyEnd = this.string(i);
      const key = JSON.parse(this.text.slice(start, keyEnd)) as string;
      i = this.ws(keyEnd);
      i = this.ws(i + 1); // ':'
      const valueStart = i;
      const valueEnd = this.value(i);
      members.push({ key, start, valueStart, valueEnd });
      i = this.ws(valueEnd);
      if (this.text[i] === '}') return { open, close: i, members };
      i = this.ws(i + 1); // ','
    }
  }
}

/** The indentation unit of a JSON text (two spaces when it cannot tell). */
function indentUnit(text: string): string {
  const m = /\n([ \t]+)"/.exec(text);
  return m?.[1] ?? '  ';
}

function lineIndent(text: string, pos: number): string {
  const lineStart = text.lastIndexOf('\n', pos - 1) + 1;
  return /^[ \t]*/.exec(text.slice(lineStart))?.[0] ?? '';
}

/** `value` as JSON, indented to sit at `indent` (continuation lines). */
function render(value: unknown, unit: string, indent: string): string {
  return JSON.stringify(value, null, unit).split('\n').join(`\n${indent}`);
}

/** Insert `"key": value` as the last member of the object at `span`. */
function insertMember(text: string, span: ObjectSpan, key: string, value: unknown, unit: string): string {
  const closeIndent = lineIndent(text, span.close);
  const multiLine = text.slice(span.open, span.close).includes('\n') || span.members.length === 0;
  const memberIndent = closeIndent + unit;
  const rendered = `${JSON.stringify(key)}: ${render(value, unit, memberIndent)}`;
  const last = span.members[span.members.length - 1];
  if (!last) {
    return `${text.slice(0, span.open + 1)}\n${memberIndent}${rendered}\n${closeIndent}${text.slice(span.close)}`;
  }
  if (!multiLine) return `${text.slice(0, last.valueEnd)}, ${rendered}${text.slice(last.valueEnd)}`;
  const indent = lineIndent(text, last.start);
  return `${text.slice(0, last.valueEnd)},\n${indent}${JSON.stringify(key)}: ${render(value, unit, indent)}${text.slice(last.valueEnd)}`;
}

export function parseJsonConfig(text: string, file: string): Record<string, unknown> {
  if (text.trim() === '') return {};
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw new ConfigFileError(`${file} is not valid JSON (${(err as Error).message}). Fix it or move it away; it was not changed.`);
  }
  if (!isObject(data)) throw new ConfigFileError(`${file} is not a JSON object; it was not changed.`);
  return data;
}

/**
 * Set `root[outer][inner] = value` in a JSON text, touching nothing else. Returns the new text (equal to
 * the input when the entry is already there).
 */
export function setJsonMember(text: string | null, file: string, outer: string, inner: string, value: unknown): string {
  if (text === null || text.trim() === '') return `${JSON.stringify({ [outer]: { [inner]: value } }, null, 2)}\n`;
  const data = parseJsonConfig(text, file);
  const section = data[outer];
  if (section !== undefined && !isObject(section)) throw new ConfigFileError(`${file}: "${outer}" is not an object; it was not changed.`);
  if (section && deepEqual(section[inner], value)) return text;
  const unit = indentUnit(text);
  const s = new Scanner(text);
  const root = s.object(s.ws(0));
  const outerMember = root.members.filter((m) => m.key === outer).pop();
  if (!outerMember) return insertMember(text, root, outer, { [inner]: value }, unit);
  const obj = s.object(outerMember.valueStart);
  const innerMember = obj.members.filter((m) => m.key === inner).pop();
  if (!innerMember) return insertMember(text, obj, inner, value, unit);
  const indent = lineIndent(text, innerMember.start);
  return `${text.slice(0, innerMember.valueStart)}${render(value, unit, indent)}${text.slice(innerMember.valueEnd)}`;
}

// ---------------------------------------------------------------------------------------------------
// TOML

const tomlString = (s: string) => JSON.stringify(s); // a JSON string is a valid TOML basic string

/** A Codex `[mcp_servers.availsync]` table: the stdio form (command, args, env) or the remote one (url, bearer_token_env_var). */
export type CodexEntry = Record<string, string | string[] | Record<string, string>>;

function tomlValue(v: string | string[] | Record<string, string>): string {
  if (typeof v === 'string') return tomlString(v);
  if (Array.isArray(v)) return `[${v.map(tomlString).join(', ')}]`;
  return `{ ${Object.entries(v)
    .map(([k, x]) => `${/^[A-Za-z0-9_-]+$/.test(k) ? k : tomlString(k)} = ${tomlString(x)}`)
    .join(', ')} }`;
}

export function renderCodexSection(entry: CodexEntry | McpEntry): string {
  const lines = Object.entries(entry as CodexEntry).map(([k, v]) => `${k} = ${tomlValue(v)}`);
  return ['[mcp_servers.availsync]', ...lines, ''].join('\n');
}

function parseTomlConfig(text: string, file: string): Record<string, unknown> {
  try {
    return parseToml(text) as Record<string, unknown>;
  } catch (err) {
    const first = String((err as Error).message).split('\n')[0];
    throw new ConfigFileError(`${file} is not valid TOML (${first}). Fix it or move it away; it was not changed.`);
  }
}

const HEADER = /^[ \t]*\[\[?\s*([^\]]+?)\s*\]\]?[ \t]*(?:#.*)?$/;
const normKey = (k: string) =>
  k
    .split('.')
    .map((p) => p.trim().replace(/^"(.*)"$/, '$1'))
    .join('.');

/** Add or replace `[mcp_servers.availsync]` in a Codex config.toml, keeping every other byte. */
export function setCodexServer(text: string | null, file: string, entry: CodexEntry | McpEntry): string {
  const section = renderCodexSection(entry);
  if (text === null || text.trim() === '') return section;
  const data = parseTomlConfig(text, file);
  const servers = data.mcp_servers;
  const current = isObject(servers) ? servers.availsync : undefined;
  if (current !== undefined && deepEqual(current, entry)) return text;

  const lines = text.split('\n');
  let start = -1;
  let end = lines.length;
  for (let i = 0; i < lines.length; i++) {
    const m = HEADER.exec(lines[i] as string);
    if (!m) continue;
    const key = normKey(m[1] as string);
    const ours = key === 'mcp_servers.availsync' || key.startsWith('mcp_servers.availsync.');
    if (start === -1 && key === 'mcp_servers.availsync') start = i;
    else if (start !== -1 && !ours) {
      end = i;
      break;
    }
  }
  let next: string;
  if (start === -1) {
    if (current !== undefined) {
      throw new ConfigFileError(
        `${file} defines mcp_servers.availsync in a form this tool does not edit (not as a [mcp_servers.availsync] table). ` +
          'Replace it by hand with:\n' +
          section,
      );
    }
    const sep = text.endsWith('\n\n') ? '' : text.endsWith('\n') ? '\n' : '\n\n';
    next = `${text}${sep}${section}`;
  } else {
    // Keep blank lines and comments that introduce the next table.
    while (end > start + 1 && /^\s*(#.*)?$/.test(lines[end - 1] as string)) end--;
    const before = lines.slice(0, start).join('\n');
    const after = lines.slice(end).join('\n');
    next = `${before}${start > 0 ? '\n' : ''}${section.replace(/\n$/, '')}${after === '' ? '\n' : `\n${after}`}`;
  }
  const check = parseTomlConfig(next, file);
  const written = isObject(check.mcp_servers) ? check.mcp_servers.availsync : undefined;
  if (!deepEqual(written, entry)) throw new ConfigFileError(`${file}: could not add the availsync server safely; it was not changed.`);
  return next;
}

// ---------------------------------------------------------------------------------------------------
// Hooks: Claude Code's settings (the command hook, or the http hooks the server serves), Codex's
// hooks.json (Claude Code's shape) and Cursor's hooks.json (flat lists)

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
