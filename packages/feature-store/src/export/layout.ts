import {
  type AnyFeature,
  type FeatureService,
  featureService,
  type LayoutEntry,
  TandemError,
} from '@tandem/core';

/** The features of a training set as written out: the service, or `null` for a feature list. */
export interface TrainingLayout {
  /** Service name, or `null` when a plain feature list was given. */
  readonly service: string | null;
  /** Output features in order: name, value type, list flag and fingerprint. */
  readonly features: readonly LayoutEntry[];
}

/**
 * Resolves what a training set was built from (a service or a feature list, as in
 * `getTrainingSet({ features })`) into its output layout. A list is checked like a service
 * (duplicate names, dependencies).
 */
export function trainingLayout(selection: FeatureService | readonly AnyFeature[]): TrainingLayout {
  if (Array.isArray(selection)) {
    return {
      service: null,
      features: featureService('training_set', selection as readonly AnyFeature[]).layout,
    };
  }
  const service = selection as FeatureService;
  return { service: service.name, features: service.layout };
}

/**
 * Checks that a non-null value has its feature's type: a finite number (an integer for `int`), a
 * string, a boolean, or for list features an array of such values (nulls allowed inside).
 * @throws {TandemError} `TYPE_MISMATCH` naming `path`.
 */
export function checkFeatureValue(feature: LayoutEntry, value: unknown, path: string): void {
  if (feature.list) {
    if (!Array.isArray(value)) throw mismatch(feature, value, path);
    value.forEach((item, i) => {
      if (item !== null) checkScalar(feature, item, `${path}[${i}]`);
    });
    return;
  }
  checkScalar(feature, value, path);
}

function checkScalar(feature: LayoutEntry, value: unknown, path: string): void {
  const ok =
    feature.valueType === 'int'
      ? Number.isInteger(value)
      : feature.valueType === 'float'
        ? Number.isFinite(value)
        : feature.valueType === 'string'
          ? typeof value === 'string'
          : typeof value === 'boolean';
  if (!ok) throw mismatch(feature, value, path);
}

function mismatch(feature: LayoutEntry, value: unknown, path: string): TandemError {
  const type = feature.list ? `list of ${feature.valueType}` : feature.valueType;
  return new TandemError(
    'TYPE_MISMATCH',
    `feature ${feature.name} is ${type === 'int' ? 'an int' : `a ${type}`}, got ${typeof value === 'number' ? String(value) : (JSON.stringify(value) ?? String(value))}`,
    { path },
  );
}
