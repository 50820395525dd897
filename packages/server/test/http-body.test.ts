/**
 * Request bodies over a real socket (the Node adapter, not app.request): a declared Content-Length is
 * judged from the header alone and the body is read directly; a chunked body is counted as it is read.
 * Either way, a body over the limit is 413 with the error envelope and changes nothing.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { createTestServer, STORES, type TestServer } from '@availsync/testkit';
import { serve } from '@hono/node-server';
import { MAX_BODY_BYTES } from '../src/http/app.js';

interface Raw {
  status: number;
  body: any;
}

/** One request with a body written as given: `chunks` (chunked) or `body` with its Content-Length. */
function send(port: number, key: string, opts: { body?: string; chunks?: string[]; declaredLength?: number; path?: string }): Promise<Raw> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = { 'content-type': 'application/json', authorization: `Bearer ${key}` };
    if (opts.body !== undefined) headers['content-length'] = opts.declaredLength ?? Buffer.byteLength(opts.body);
    const req = http.request(
      { host: '127.0.0.1', port, method: 'POST', path: opts.path ?? '/v1/work/run/start', headers, agent: false },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => {
          text += d;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text ? JSON.parse(text) : undefined }));
      },
    );
    // The server may answer (413) before the whole body is written, and close: that is not a failure here.
    req.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EPIPE' && err.code !== 'ECONNRESET') reject(err);
    });
    if (opts.chunks) {
      for (const c of opts.chunks) req.write(c);
      req.end();
    } else {
      req.end(opts.body);
    }
  });
}

for (const kind of STORES) {
  describe(`request bodies over HTTP (${kind})`, () => {
    let t: TestServer;
    let server: ReturnType<typeof serve>;
    let port: number;
    let key: string;

    before(async () => {
      t = await createTestServer(kind);
      ({ key } = await t.workspace());
      server = serve({ fetch: t.app.fetch, port: 0, hostname: '127.0.0.1' });
      await new Promise((resolve) => server.once('listening', resolve));
      port = (server.address() as AddressInfo).port;
    });
    after(async () => {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        (server as http.Server).closeAllConnections();
      });
      await t.close();
    });

    const claimCount = async () =>
      Number(
        (
          await t.store.db
            .selectFrom('claims')
            .select((eb) => eb.fn.countAll().as('n'))
            .executeTakeFirstOrThrow()
        ).n,
      );

    it('a body with its Content-Length is read and answered', async () => {
      const res = await send(port, key, { body: JSON.stringify({ resource: 'repo:acme/length', duration_minutes: 5 }) });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.equal(res.body.action, 'proceed');
    });

    it('a chunked body is read and answered', async () => {
      const json = JSON.stringify({ resource: 'repo:acme/chunked', duration_minutes: 5 });
      const res = await send(port, key, { chunks: [json.slice(0, 10), json.slice(10)] });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.equal(res.body.action, 'proceed');
    });

    it('a declared Content-Length over the limit is 413 before the body is read, and changes nothing', async () => {
      const before = await claimCount();
      const big = JSON.stringify({ resource: 'repo:acme/declared', reason: 'x'.repeat(MAX_BODY_BYTES) });
      const res = await send(port, key, { body: big });
      assert.equal(res.status, 413);
      assert.equal(res.body.error, 'payload_too_large');
      assert.match(res.body.request_id, /^req_/);
      assert.equal(await claimCount(), before);
    });

    it('a chunked body over the limit is 413, and changes nothing', async () => {
      const before = await claimCount();
      const piece = 'x'.repeat(256 * 1024);
      const res = await send(port, key, {
        chunks: ['{"resource":"repo:acme/chunked-big","reason":"', piece, piece, piece, piece, piece, '"}'],
      });
      assert.equal(res.status, 413);
      assert.equal(res.body.error, 'payload_too_large');
      assert.match(res.body.request_id, /^req_/);
      assert.equal(await claimCount(), before);
    });

    it('malformed JSON with a Content-Length is a structured 400', async () => {
      const res = await send(port, key, { body: '{"resource": ' });
      assert.equal(res.status, 400);
      assert.equal(res.body.error, 'invalid_request');
    });
  });
}
