/**
 * The program each pool worker runs, as plain CommonJS source evaluated by `new Worker(source,
 * { eval: true })`: no TypeScript loader or build output is needed in the worker, so the pool
 * works the same under vitest, tsx and the compiled package. `workerData.ortPath` is the
 * absolute path of onnxruntime-node, resolved by the parent.
 *
 * Protocol (parent -> worker): `{ kind: 'load', bytes, options }`, `{ kind: 'run', id, feeds,
 * outputs }`, `{ kind: 'close' }`. Worker -> parent: `{ kind: 'loaded', inputs, outputs }`,
 * `{ kind: 'load_failed', message }`, `{ kind: 'result', id, outputs }`, `{ kind: 'failed', id,
 * message }`, `{ kind: 'closed' }`. Output buffers are copied once and transferred.
 */
export const WORKER_SOURCE = `
'use strict';
const { parentPort, workerData } = require('node:worker_threads');
const ort = require(workerData.ortPath);
let session;
const messageOf = (error) => (error && error.message) || String(error);
const plainMetadata = (list) =>
  list.map((m) => (m.isTensor ? { name: m.name, isTensor: true, type: m.type, shape: Array.from(m.shape) } : { name: m.name, isTensor: false }));
parentPort.on('message', async (message) => {
  if (message.kind === 'load') {
    try {
      session = await ort.InferenceSession.create(message.bytes, message.options);
      parentPort.postMessage({
        kind: 'loaded',
        inputs: plainMetadata(session.inputMetadata),
        outputs: plainMetadata(session.outputMetadata),
      });
    } catch (error) {
      parentPort.postMessage({ kind: 'load_failed', message: messageOf(error) });
    }
  } else if (message.kind === 'run') {
    try {
      const feeds = {};
      for (const name of Object.keys(message.feeds)) {
        const t = message.feeds[name];
        feeds[name] = new ort.Tensor(t.type, t.data, t.dims);
      }
      const result = message.outputs ? await session.run(feeds, message.outputs) : await session.run(feeds);
      const outputs = {};
      const transfer = [];
      for (const name of Object.keys(result)) {
        const t = result[name];
        let data;
        if (t.type === 'string') data = Array.from(t.data);
        else {
          data = t.data.slice();
          transfer.push(data.buffer);
        }
        outputs[name] = { type: t.type, dims: Array.from(t.dims), data };
      }
      parentPort.postMessage({ kind: 'result', id: message.id, outputs }, transfer);
    } catch (error) {
      parentPort.postMessage({ kind: 'failed', id: message.id, message: messageOf(error) });
    }
  } else if (message.kind === 'close') {
    try {
      if (session) await session.release();
    } finally {
      session = undefined;
      parentPort.postMessage({ kind: 'closed' });
      parentPort.close();
    }
  } else if (message.kind === 'crash') {
    // Test hook: die the way a native crash would look from the parent (the thread exits).
    process.exit(1);
  }
});
`;
