import { createHash } from 'node:crypto';
import {
  type AnyFeature,
  canonicalJson,
  type FeatureService,
  type LayoutEntry,
  TandemError,
} from '@tandem/core';
import { checkFeatureValue, trainingLayout } from '../export/layout.js';
import type { TrainingRow } from '../offline/training-set/training-set.js';
import { NumericAccumulator } from './numeric.js';
import { StringAccumulator } from './strings.js';
import type { FeatureStatistics, FeatureStatisticsBase, TrainingStatistics } from './types.js';

/** Collects {@link TrainingStatistics} from training rows fed one at a time, in constant memory. */
export interface StatisticsCollector {
  /**
   * Adds one training row (its feature columns; other columns are ignored).
   * @throws {TandemError} `UNKNOWN_COLUMN` when the row lacks a feature, `TYPE_MISMATCH` when a
   * value does not have its feature's type (path `rows[i].feature`).
   */
  add(row: TrainingRow): void;
  /** The statistics of the rows added so far. */
  result(): TrainingStatistics;
}

/** One feature's running statistics over its non-null values. */
interface FeatureCollector {
  add(value: never): void;
  result(base: FeatureStatisticsBase): FeatureStatistics;
}

/**
 * A statistics collector for the training rows of a feature service or feature list (the
 * `features` given to `getTrainingSet`).
 */
export function createStatisticsCollector(
  selection: FeatureService | readonly AnyFeature[],
): StatisticsCollector {
  const layout = trainingLayout(selection);
  const features = layout.features.map((feature) => ({
    feature,
    collector: collect(feature),
    count: 0,
    nulls: 0,
  }));
  const fingerprint = createHash('sha256')
    .update(canonicalJson(layout.features.map((f) => [f.name, f.fingerprint])))
    .digest('hex');
  let rows = 0;
  return {
    add(row) {
      for (const state of features) {
        const { feature } = state;
        const value = row[feature.name];
        const path = `rows[${rows}].${feature.name}`;
        if (value === undefined && !(feature.name in row)) {
          throw new TandemError('UNKNOWN_COLUMN', `the row has no feature ${feature.name}`, {
            path,
          });
        }
        if (value === null || value === undefined) {
          state.nulls++;
        } else {
          checkFeatureValue(feature, value, path);
          state.count++;
          state.collector.add(value as never);
        }
      }
      rows++;
    },
    result: () => ({
      version: 1,
      service: layout.service,
      fingerprint,
      rows,
      features: features.map(({ feature, collector, count, nulls }) =>
        collector.result({ name: feature.name, fingerprint: feature.fingerprint, count, nulls }),
      ),
    }),
  };
}

/**
 * Passes training rows through unchanged while collecting their statistics; `statistics()` gives
 * them once every row has been read.
 * @example
 * const { rows, statistics } = withStatistics(store.getTrainingSet(options), options.features);
 * await writeCsv(rows, file);
 * await saveTrainingStatistics(executor, schema, 'fraud_v1', statistics());
 */
export function withStatistics<T extends TrainingRow>(
  rows: AsyncIterable<T>,
  selection: FeatureService | readonly AnyFeature[],
): { rows: AsyncGenerator<T>; statistics(): TrainingStatistics } {
  const collector = createStatisticsCollector(selection);
  let finished = false;
  async function* pass(): AsyncGenerator<T> {
    for await (const row of rows) {
      collector.add(row);
      yield row;
    }
    finished = true;
  }
  return {
    rows: pass(),
    statistics() {
      if (!finished) {
        throw new TandemError(
          'INVALID_ARGUMENT',
          'training-set statistics are ready once every row has been read',
          { path: 'statistics' },
        );
      }
      return collector.result();
    },
  };
}

function collect(feature: LayoutEntry): FeatureCollector {
  if (feature.list) {
    const lengths = new NumericAccumulator();
    const valueType = feature.valueType;
    return {
      add: (value: readonly unknown[]) => lengths.add(value.length),
      result: (base) => ({ ...base, kind: 'list', valueType, length: lengths.summary() }),
    };
  }
  switch (feature.valueType) {
    case 'int':
    case 'float': {
      const numbers = new NumericAccumulator();
      const valueType = feature.valueType;
      return {
        add: (value: number) => numbers.add(value),
        result: (base) => ({ ...base, kind: 'numeric', valueType, ...numbers.summary() }),
      };
    }
    case 'bool': {
      let trueCount = 0;
      return {
        add: (value: boolean) => {
          if (value) trueCount++;
        },
        result: (base) => ({
          ...base,
          kind: 'bool',
          trueCount,
          trueRate: base.count === 0 ? null : trueCount / base.count,
        }),
      };
    }
    case 'string': {
      const strings = new StringAccumulator();
      return {
        add: (value: string) => strings.add(value),
        result: (base) => ({ ...base, kind: 'string', ...strings.summary() }),
      };
    }
  }
}
