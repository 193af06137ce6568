import {
  type AnyFeature,
  type FeatureIR,
  type FeatureService,
  featureService,
  type SourceIR,
  TandemError,
} from '@tandem/core';

/** The features of one training set, grouped the way the query computes them. */
export interface TrainingPlan {
  /** Output features in order. */
  readonly outputs: readonly AnyFeature[];
  /** Every feature to compute, inputs first. */
  readonly all: readonly AnyFeature[];
  /** Aggregation features grouped by source (one LATERAL subquery per group). */
  readonly bySource: readonly {
    readonly source: SourceIR;
    readonly features: readonly AggregationFeature[];
  }[];
  /** Entity key names every entity row must carry. */
  readonly keys: readonly { readonly name: string; readonly type: 'string' | 'int' }[];
}

/** An aggregation feature with its narrowed IR. */
export type AggregationFeature = AnyFeature & {
  readonly ir: Extract<FeatureIR, { kind: 'aggregation' }>;
};

/** Resolves a service or a feature list into what the training-set query needs. */
export function planTrainingSet(selection: FeatureService | readonly AnyFeature[]): TrainingPlan {
  const service = Array.isArray(selection)
    ? featureService('training_set', selection as readonly AnyFeature[])
    : (selection as FeatureService);
  const groups = new Map<string, { source: SourceIR; features: AggregationFeature[] }>();
  for (const feature of service.dependencies) {
    if (feature.ir.kind !== 'aggregation') continue;
    const source = feature.ir.source;
    const group = groups.get(source.name) ?? { source, features: [] };
    if (group.source !== source && JSON.stringify(group.source) !== JSON.stringify(source)) {
      throw new TandemError('DUPLICATE_NAME', `two different sources are named ${source.name}`, {
        path: `feature ${feature.name}`,
      });
    }
    group.features.push(feature as AggregationFeature);
    groups.set(source.name, group);
  }
  const keys = new Map<string, 'string' | 'int'>();
  for (const entity of service.entities) {
    for (const [key, type] of Object.entries(entity.keys)) keys.set(key, type);
  }
  return {
    outputs: service.features,
    all: service.dependencies,
    bySource: [...groups.values()],
    keys: [...keys].map(([name, type]) => ({ name, type })),
  };
}
