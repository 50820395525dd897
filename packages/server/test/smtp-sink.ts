/**
 * The test side of fixtures/smtp-sink.mjs: start the real SMTP server process, wait for a message to an
 * address (a wait for a state, resolved by the message itself), and read its text part as a person's
 * mail client would (quoted-printable or base64 decoded).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export interface Delivered {
  from: string;
  to: string[];
  raw: string;
  subject: string;
  text: string;
}

function decodeQuotedPrintable(body: string): string {
  const bytes = body.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/gi, (_, hex: string) => String.fromCharCode(Number.parseInt(hex, 16)));
  return Buffer.from(bytes, 'latin1').toString('utf8');
}

/** The text of a single-part message, or of its text/plain part. */
export function textOf(raw: string): { subject: string; text: string } {
  const [head = '', ...rest] = raw.split(/\r?\n\r?\n/);
  const unfolded = head.replace(/\r?\n[ \t]+/g, ' ');
  const subject = /^Subject: (.*)$/im.exec(unfolded)?.[1] ?? '';
  let body = rest.join('\r\n\r\n');
  const boundary = /boundary="?([^";\r\n]+)"?/i.exec(unfolded)?.[1];
  let headers = unfolded;
  if (boundary) {
    const part = body.split(`--${boundary}`).find((p) => /Content-Type: text\/plain/i.test(p)) ?? '';
    const [partHead = '', ...partBody] = part.replace(/^\r?\n/, '').split(/\r?\n\r?\n/);
    headers = partHead;
    body = partBody.join('\r\n\r\n');
  }
  const encoding = /Content-Transfer-Encoding: (\S+)/i.exec(headers)?.[1]?.toLowerCase();
  const text =
    encoding === 'quoted-printable'
      ? decodeQuotedPrintable(body)
      : encoding === 'base64'
        ? Buffer.from(body.replace(/\s+/g, ''), 'base64').toString('utf8')
        : body;
  return { subject, text };
}

export async function startSmtpSink(auth = { user: 'availsync', pass: 'sink-secret-Pa55word' }) {
  const script = fileURLToPath(new URL('./fixtures/smtp-sink.mjs', import.meta.url));
  const child: ChildProcess = spawn(process.execPath, [script], {
    env: { ...process.env, SINK_USER: auth.user, SINK_PASS: auth.pass },
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const messages: Delivered[] = [];
  const waiters: { match: (m: Delivered) => boolean; resolve: (m: Delivered) => void }[] = [];
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`smtp sink exited (${code})`)));
    lines.on('line', (line) => {
      const msg = JSON.parse(line) as { port?: number; from?: string; to?: string[]; raw?: string };
      if (msg.port !== undefined) return resolve(msg.port);
      const delivered: Delivered = { from: msg.from ?? '', to: msg.to ?? [], raw: msg.raw ?? '', ...textOf(msg.raw ?? '') };
      messages.push(delivered);
      for (const w of waiters.splice(0)) {
        if (w.match(delivered)) w.resolve(delivered);
        else waiters.push(w);
      }
    });
  });
  const password = encodeURIComponent(auth.pass);
  return {
    port,
    url: `smtp://${encodeURIComponent(auth.user)}:${password}@127.0.0.1:${port}`,
    auth,
    messages,
    /** The first message to `to` after `since` messages (default: any so far). */
    next(to: string, since = 0): Promise<Delivered> {
      const match = (m: Delivered) => m.to.includes(to);
      const found = messages.slice(since).find(match);
      if (found) return Promise.resolve(found);
      return new Promise((resolve) => waiters.push({ match, resolve }));
    },
    async stop() {
      if (child.exitCode !== null) return;
      child.stdin?.end();
      await once(child, 'exit');
    },
  };
}

export type SmtpSink = Awaited<ReturnType<typeof startSmtpSink>>;

/** The link in an email, and the token it carries. */
export function linkIn(text: string): { url: string; token: string } {
  const url = /https?:\/\/\S+token=\S+/.exec(text)?.[0];
  if (!url) throw new Error(`no link in: ${text}`);
  return { url, token: decodeURIComponent(/token=([^&\s]+)/.exec(url)?.[1] ?? '') };
}
