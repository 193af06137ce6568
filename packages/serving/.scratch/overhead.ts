import { performance } from 'node:perf_hooks';
import { seededStore, fraudService, logisticBytes } from '../test/fixtures.js';
import { ModelRegistry } from '../src/models/registry.js';
import { createPredictor } from '../src/middleware/predictor.js';
const store = await seededStore();
const registry = new ModelRegistry();
await registry.load({ name: 'fraud', version: '1', bytes: logisticBytes(), service: fraudService });
const rows = await store.getOnlineFeatures({ service: fraudService, entities: [{ user_id: 'ann' }], requestData: [{ amount: 20 }] });
const fixed = { getOnlineFeatures: async () => rows };
const time = async (name: string, n: number, fn: () => Promise<unknown>) => {
  for (let i = 0; i < 200; i++) await fn();
  const t = performance.now();
  for (let i = 0; i < n; i++) await fn();
  console.log(name, (((performance.now() - t) / n) * 1000).toFixed(1), 'us');
};
for (let k = 0; k < 2; k++) {
await time('predict', 2000, () => registry.predict('fraud', [2, 40, 0.5]));
const p = createPredictor({ store: fixed, models: registry, logging: { level: 'silent' } });
await time('predictor', 2000, () => p.predict('fraud', { user_id: 'ann', amount: 20 }));
const p2 = createPredictor({ store: fixed, models: registry, logging: { level: 'silent' }, limits: false, breaker: false, deadlineMs: 0 });
await time('predictor-bare', 2000, () => p2.predict('fraud', { user_id: 'ann', amount: 20 }));
}
await registry.close();
