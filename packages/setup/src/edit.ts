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

export const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

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
export function indentUnit(text: string): string {
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
