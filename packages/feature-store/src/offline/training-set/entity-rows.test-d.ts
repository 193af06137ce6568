import type { SQL } from 'drizzle-orm';
import { describe, expectTypeOf, it } from 'vitest';
import type { EntityRowsInput } from './entity-rows.js';

describe('EntityRowsInput', () => {
  it('accepts arrays of interface-typed rows, tables and queries', () => {
    interface LabelRow {
      readonly user_id: string;
      readonly ts: number;
      readonly label: 0 | 1;
    }
    expectTypeOf<LabelRow[]>().toExtend<EntityRowsInput>();
    expectTypeOf<{ table: string }>().toExtend<EntityRowsInput>();
    expectTypeOf<{ query: SQL }>().toExtend<EntityRowsInput>();
    expectTypeOf<string>().not.toExtend<EntityRowsInput>();
  });
});
