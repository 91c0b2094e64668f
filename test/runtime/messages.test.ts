import { MessageChannel, MessagePort, Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { Runtime, chain } from '../../dist/index.js';
import { postMessages } from '../fixtures/post-messages.mjs';

/** postMessage calls every worker made, by the worker-side counter (SYSLET_COUNT_MESSAGES=1). */
function workerPosts(rt: Runtime): number {
  return rt.stats().workers.reduce((n, w) => n + w.messages, 0);
}

describe('the hot path sends no messages', () => {
  it('10,000 chains cost zero postMessage calls in either direction', async () => {
    process.env.SYSLET_COUNT_MESSAGES = '1';
    const rt = await Runtime.create({ workers: 2 });
    // Start-up messages (piscina's "ready") are setup, not operations: let them pass first.
    await Promise.all(Array.from({ length: 100 }, () => rt.run(chain().nop().build())));
    await new Promise((r) => setTimeout(r, 200));
    // Count the caller's side: every port and every Worker.
    let mainPosts = 0;
    const portPost = MessagePort.prototype.postMessage;
    const workerPost = Worker.prototype.postMessage;
    MessagePort.prototype.postMessage = function (this: MessagePort, ...a: Parameters<MessagePort['postMessage']>) {
      mainPosts++;
      return portPost.apply(this, a);
    };
    Worker.prototype.postMessage = function (this: Worker, ...a: Parameters<Worker['postMessage']>) {
      mainPosts++;
      return workerPost.apply(this, a);
    };
    try {
      const before = workerPosts(rt);
      const subs = [];
      for (let i = 0; i < 10_000; i++) subs.push(rt.submit(chain().nop(i).build()));
      const done = await Promise.all(subs.map((s) => s.promise));
      expect(done.length).toBe(10_000);
      const st = rt.stats();
      expect(st.workers.reduce((n, w) => n + w.chains, 0)).toBe(10_100);
      expect(workerPosts(rt) - before).toBe(0);
      expect(mainPosts).toBe(0);

      // Positive controls: both counters count when messages are sent. A threadlet on a worker
      // posts exactly 5 messages on a port of its own; this thread posts 1.
      expect(await postMessages.submit(rt, [5], { start: 'worker' })).toBe(5);
      expect(workerPosts(rt) - before).toBe(5);
      const { port1, port2 } = new MessageChannel();
      port1.postMessage('one');
      port1.close();
      port2.close();
      expect(mainPosts).toBe(1);
    } finally {
      MessagePort.prototype.postMessage = portPost;
      Worker.prototype.postMessage = workerPost;
      delete process.env.SYSLET_COUNT_MESSAGES;
      await rt.close();
    }
  });
});
