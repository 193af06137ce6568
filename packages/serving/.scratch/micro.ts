import { performance } from 'node:perf_hooks';
import { createCircuitBreaker } from '../src/resilience/breaker.js';
import { startDeadline } from '../src/resilience/deadline.js';
import { createConcurrencyLimiter } from '../src/resilience/limiter.js';
const time = async (name: string, n: number, fn: () => Promise<unknown> | unknown) => {
  for (let i = 0; i < 1000; i++) await fn();
  const t = performance.now();
  for (let i = 0; i < n; i++) await fn();
  console.log(name, (((performance.now() - t) / n) * 1000).toFixed(2), 'us');
};
const work = () => Promise.resolve(1);
const breaker = createCircuitBreaker();
const limiter = createConcurrencyLimiter();
for (let k = 0; k < 2; k++) {
await time('baseline', 20000, work);
await time('breaker', 20000, () => breaker.execute(work));
await time('deadline+race', 20000, async () => { const d = startDeadline(1000); await d.race(work()); await d.race(work()); d.dispose(); });
await time('deadline none', 20000, async () => { const d = startDeadline(0); await d.race(work()); d.dispose(); });
await time('limiter', 20000, () => { const r = limiter.tryAcquire(); r!(); });
await time('setTimeout+clear', 20000, () => { const t = setTimeout(() => {}, 1000); t.unref(); clearTimeout(t); });
}
