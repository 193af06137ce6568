import autocannon from 'autocannon';
import express from 'express';
import { seededStore, fraudService, logisticBytes } from '../test/fixtures.js';
import { ModelRegistry } from '../src/models/registry.js';
import { middleware } from '../src/middleware/router.js';

const store = await seededStore();
const registry = new ModelRegistry();
await registry.load({ name: 'fraud', version: '1', bytes: logisticBytes(), service: fraudService });

const hand = express();
hand.use(express.json());
hand.post('/models/fraud/predict', async (req, res) => {
  const { user_id, amount } = req.body;
  const [row] = await store.getOnlineFeatures({ service: fraudService, entities: [{ user_id }], requestData: [{ amount }] });
  const vector = fraudService.layout.map((e) => row!.values[e.name]!.value as number);
  const { outputs } = await registry.predict('fraud', vector);
  res.json({ prediction: { probability: (outputs.probability!.data as Float32Array)[0] } });
});
const mw = express();
mw.use(middleware({ store, models: registry, logging: { level: 'silent' }, limits: { maxConcurrent: 256 } }));

async function run(app: express.Express, connections: number) {
  const server = app.listen(0);
  const port = (server.address() as { port: number }).port;
  const result = await autocannon({
    url: `http://127.0.0.1:${port}/models/fraud/predict`,
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ user_id: 'ann', amount: 20 }),
    connections,
    duration: 5,
  });
  server.close();
  return { rps: result.requests.average, p50: result.latency.p50, p99: result.latency.p99, errors: result.errors, non2xx: result.non2xx };
}
for (const c of [1, 32]) {
  console.log('hand', c, await run(hand, c));
  console.log('mw  ', c, await run(mw, c));
}
await registry.close();
