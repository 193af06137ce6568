import { performance } from 'node:perf_hooks';
import { seededStore, fraudService, logisticBytes } from '../test/fixtures.js';
import { ModelRegistry } from '../src/models/registry.js';
import { createPredictor } from '../src/middleware/predictor.js';
const store = await seededStore();
const registry = new ModelRegistry();
await registry.load({ name: 'fraud', version: '1', bytes: logisticBytes(), service: fraudService, batching: false });
const rows = await store.getOnlineFeatures({ service: fraudService, entities: [{ user_id: 'ann' }], requestData: [{ amount: 20 }] });
const fixed = { getOnlineFeatures: async () => rows };
const p = createPredictor({ store: fixed, models: registry, logging: { level: 'silent' } });
const t = performance.now();
// 32 concurrent loops
await Promise.all(Array.from({ length: 32 }, async () => { for (let i = 0; i < 600; i++) await p.predict('fraud', { user_id: 'ann', amount: 20 }); }));
console.log('per request', ((performance.now() - t) / (32 * 600) * 1000).toFixed(1), 'us');
await registry.close();
