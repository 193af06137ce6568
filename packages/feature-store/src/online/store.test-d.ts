import { entity, eventSource, featureService } from '@tandem/core';
import { expectTypeOf, test } from 'vitest';
import { memoryAdapter } from './memory/adapter.js';
import { createOnlineStore } from './store.js';

const user = entity({ name: 'user', keys: { user_id: 'int' } });
const tx = eventSource({ name: 'tx', entity: user, fields: { amount: 'float', tag: 'string' } });
const spend = tx.sum('amount').window('7d').as('spend_7d');
const tags = tx.lastK('tag', 3).window('1d').as('tags_1d');
const service = featureService('scoring', [spend, tags]);

test('online rows are typed by the service', async () => {
  const online = createOnlineStore({ adapter: memoryAdapter(), features: [service] });
  const [row] = await online.getOnlineFeatures({ service, entities: [{ user_id: 1 }] });
  expectTypeOf(row!.values.spend_7d.value).toEqualTypeOf<number>();
  expectTypeOf(row!.values.tags_1d.value).toEqualTypeOf<string[]>();
  // @ts-expect-error: not a feature of the service
  row!.values.nope;
});
