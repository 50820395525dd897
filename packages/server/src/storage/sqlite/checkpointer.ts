/**
 * SQLite WAL checkpoints off the event loop. With `wal_autocheckpoint` on, the commit that crosses the
 * threshold runs the checkpoint (and its fsync) synchronously inside a request, stalling every other
 * request for tens to hundreds of milliseconds. Instead the main connection turns auto-checkpoints off
 * and a worker thread with its own connection runs PASSIVE checkpoints, which never block the writer.
 */
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

const WORKER_SOURCE = `
const { workerData, parentPort } = require('node:worker_threads');
const Database = require(workerData.modulePath);
const db = new Database(workerData.file);
db.pragma('busy_timeout = 1000');
const checkpoint = () => {
  try {
    db.pragma('wal_checkpoint(PASSIVE)');
  } catch (err) {
    parentPort.postMessage({ error: String(err && err.message || err) });
  }
};
const timer = setInterval(checkpoint, workerData.intervalMs);
parentPort.on('message', (msg) => {
  if (msg !== 'stop') return;
  clearInterval(timer);
  checkpoint();
  db.close();
  parentPort.postMessage({ stopped: true });
});
`;

export interface Checkpointer {
  stop(): Promise<void>;
}

export function startCheckpointer(file: string, opts: { intervalMs?: number; onError?: (message: string) => void } = {}): Checkpointer {
  const modulePath = createRequire(import.meta.url).resolve('better-sqlite3');
  const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { file, modulePath, intervalMs: opts.intervalMs ?? 500 } });
  worker.unref();
  worker.on('message', (msg: { error?: string }) => {
    if (msg.error) opts.onError?.(msg.error);
  });
  worker.on('error', (err) => opts.onError?.(err.message));
  return {
    stop: () =>
      new Promise<void>((resolve) => {
        const done = () => resolve();
        worker.once('exit', done);
        worker.once('message', (msg: { stopped?: boolean }) => {
          if (msg.stopped) void worker.terminate().then(done, done);
        });
        worker.postMessage('stop');
      }),
  };
}
