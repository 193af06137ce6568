import { entity, eventSource, featureService } from '@tandem/core';
import { openSqlEngines, type TestDatabase } from '@tandem/testing';
import { afterAll, describe, expect, it } from 'vitest';
import { pgliteOrPostgresExecutor } from '../../test/executor-of.js';
import { createStatisticsCollector } from './collector.js';
import { populationStabilityIndex } from './psi.js';
import { listTrainingStatistics, loadTrainingStatistics, saveTrainingStatistics } from './store.js';

const user = entity({ name: 'user', keys: { user_id: 'string' } });
const tx = eventSource({
  name: 'tx',
  entity: user,
  fields: { amount: 'float', merchant: 'string' },
});
const service = featureService('fraud_v1', [
  tx.sum('amount').as('amount_sum'),
  tx.last('merchant').as('last_merchant'),
  tx.lastK('amount', 2).as('recent'),
]);

function statistics(rows: number) {
  const collector = createStatisticsCollector(service);
  for (let i = 0; i < rows; i++) {
    collector.add({
      amount_sum: i % 7 === 0 ? null : i * 1.25,
      last_merchant: `m"${i % 3}\\é`,
      recent: [i, null],
    });
  }
  return collector.result();
}

const engines: TestDatabase[] = await openSqlEngines('fs_statistics');
afterAll(async () => {
  for (const engine of engines) await engine.close();
});

describe.each(engines.map((e) => [e.engine, e] as const))('training statistics on %s', (_, db) => {
  const executor = pgliteOrPostgresExecutor(db);
  afterAll(() => executor.close());
  const schema = db.schema;

  it('lists nothing and loads null before anything is saved', async () => {
    expect(await listTrainingStatistics(executor, schema)).toEqual([]);
    expect(await loadTrainingStatistics(executor, schema, 'fraud_v1')).toBeNull();
  });

  it('saves, loads and lists statistics by name; the loaded ones compute PSI', async () => {
    const stats = statistics(500);
    const saved = await saveTrainingStatistics(executor, schema, 'fraud_v1.2024-06', stats, {
      createdAt: 1_700_000_000_000,
    });
    expect(saved).toEqual({
      name: 'fraud_v1.2024-06',
      fingerprint: stats.fingerprint,
      createdAt: 1_700_000_000_000,
      statistics: stats,
    });
    await saveTrainingStatistics(executor, schema, 'small', statistics(3), { createdAt: 5 });
    const loaded = await loadTrainingStatistics(executor, schema, 'fraud_v1.2024-06');
    expect(loaded).toEqual(saved);
    expect(await listTrainingStatistics(executor, schema)).toEqual([
      {
        name: 'fraud_v1.2024-06',
        fingerprint: stats.fingerprint,
        createdAt: 1_700_000_000_000,
        rows: 500,
      },
      { name: 'small', fingerprint: stats.fingerprint, createdAt: 5, rows: 3 },
    ]);
    const amount = loaded!.statistics.features[0]!;
    expect(populationStabilityIndex(amount, [1.25, 2.5, 625, null])).toBeGreaterThan(0);
  });

  it('refuses a taken name unless replacing, and bad names', async () => {
    await expect(saveTrainingStatistics(executor, schema, 'small', statistics(4))).rejects.toThrow(
      expect.objectContaining({ code: 'DUPLICATE_NAME', path: 'name' }),
    );
    expect((await loadTrainingStatistics(executor, schema, 'small'))!.statistics.rows).toBe(3);
    await saveTrainingStatistics(executor, schema, 'small', statistics(4), {
      replace: true,
      createdAt: 6,
    });
    expect(await loadTrainingStatistics(executor, schema, 'small')).toMatchObject({
      createdAt: 6,
      statistics: { rows: 4 },
    });
    await expect(
      saveTrainingStatistics(executor, schema, 'bad name', statistics(1)),
    ).rejects.toThrow(expect.objectContaining({ code: 'INVALID_IDENTIFIER', path: 'name' }));
    await expect(loadTrainingStatistics(executor, schema, '')).rejects.toThrow(
      expect.objectContaining({ code: 'INVALID_IDENTIFIER' }),
    );
    await expect(listTrainingStatistics(executor, 'Bad-Schema')).rejects.toThrow(
      expect.objectContaining({ code: 'INVALID_IDENTIFIER', path: 'schema' }),
    );
  });
});
