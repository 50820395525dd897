/**
 * Email for people (invites, password resets) through nodemailer, when AVAILSYNC_SMTP_URL is set. Sending
 * happens after the answer: a slow or failing mail server never holds a request, and the time a request
 * takes does not tell whether an email went out (password resets answer alike for unknown emails). Each
 * outcome is logged with its kind and the recipient's domain: never the message (it holds a token), never
 * the SMTP password.
 */
import nodemailer from 'nodemailer';
import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import { parseSmtpUrl } from './smtp-url.js';

export interface Mail {
  kind: 'invite' | 'password_reset';
  to: string;
  subject: string;
  text: string;
}

export interface Mailer {
  /** False without AVAILSYNC_SMTP_URL: nothing is sent. */
  readonly configured: boolean;
  /** Queue one email (never throws; the outcome is logged). */
  send(mail: Mail): void;
  /** Resolves once every email queued so far was sent or failed. */
  idle(): Promise<void>;
  close(): Promise<void>;
}

const domainOf = (email: string) => email.slice(email.lastIndexOf('@') + 1);

export function createMailer(config: Pick<Config, 'smtpUrl' | 'smtpFrom' | 'publicUrl'>, logger: Logger): Mailer {
  const pending = new Set<Promise<void>>();
  const idle = async () => {
    while (pending.size > 0) await Promise.allSettled([...pending]);
  };
  if (!config.smtpUrl) {
    return {
      configured: false,
      send: (mail) => logger.info('mail.not_configured', { kind: mail.kind, to_domain: domainOf(mail.to) }),
      idle,
      close: idle,
    };
  }
  const target = parseSmtpUrl(config.smtpUrl);
  const secret = target.auth?.pass ?? '';
  // Whatever a transport error says, it never carries the password out.
  const scrub = (text: string) => (secret.length >= 3 ? text.split(secret).join('***') : text);
  const fromHost = config.publicUrl ? new URL(config.publicUrl).hostname : 'localhost';
  const from = config.smtpFrom ?? `Availsync <no-reply@${fromHost}>`;
  const transport = nodemailer.createTransport({
    host: target.host,
    port: target.port,
    secure: target.secure,
    ...(target.auth ? { auth: target.auth } : {}),
    connectionTimeout: 10_000,
    greetingTimeout: 10_000,
    socketTimeout: 30_000,
  });
  let closed = false;
  return {
    configured: true,
    send(mail) {
      if (closed) {
        logger.warn('mail.failed', { kind: mail.kind, to_domain: domainOf(mail.to), error: 'the server is shutting down' });
        return;
      }
      const job = transport
        .sendMail({ from, to: mail.to, subject: mail.subject, text: mail.text })
        .then(
          () => logger.info('mail.sent', { kind: mail.kind, to_domain: domainOf(mail.to) }),
          (err: unknown) =>
            logger.warn('mail.failed', {
              kind: mail.kind,
              to_domain: domainOf(mail.to),
              error: scrub(err instanceof Error ? err.message : String(err)),
            }),
        )
        .finally(() => pending.delete(job));
      pending.add(job);
    },
    idle,
    async close() {
      closed = true;
      await idle();
      transport.close();
    },
  };
}
