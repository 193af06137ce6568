import {
  type AnyFeature,
  canonicalJson,
  type FeatureService,
  featureService,
  fingerprint,
  type Source,
  type SourceIR,
  TandemError,
} from '@tandem/core';

/**
 * What `plan` and `apply` register: sources, features and feature services. Sources and features
 * reached from the listed features and services (their inputs and dependencies) are included, so
 * listing the services alone is enough.
 */
export interface Definitions {
  /** Sources, including ones no feature reads yet (their managed tables are created too). */
  readonly sources?: readonly Source[];
  /** Features, with everything they are computed from. */
  readonly features?: readonly AnyFeature[];
  /** Feature services, with every feature they depend on. */
  readonly services?: readonly FeatureService[];
}

/** A feature to register, with its fingerprint. */
export interface CollectedFeature {
  /** The feature. */
  readonly feature: AnyFeature;
  /** Its fingerprint (sha256 hex of the canonical IR). */
  readonly fingerprint: string;
}

/** Every source and feature of a set of definitions, each once, sorted by name. */
export interface CollectedDefinitions {
  /** Sources: the listed ones and those the features read. */
  readonly sources: readonly SourceIR[];
  /** Features: the listed ones, their inputs and the services' dependencies. */
  readonly features: readonly CollectedFeature[];
}

/**
 * Collects the sources and features of `definitions`, each once.
 * @throws {TandemError} `INVALID_DEFINITION` when an entry is not a source, feature or service
 * (path `sources[i]`, ...); `DUPLICATE_NAME` when two different sources or features share a name.
 */
export function collectDefinitions(definitions: Definitions): CollectedDefinitions {
  const features = new Map<string, CollectedFeature>();
  const sources = new Map<string, SourceIR>();
  const addSource = (source: SourceIR, via: string) => {
    const seen = sources.get(source.name);
    if (seen !== undefined && seen !== source && canonicalJson(seen) !== canonicalJson(source)) {
      throw new TandemError('DUPLICATE_NAME', `two different sources are named ${source.name}`, {
        path: via,
      });
    }
    sources.set(source.name, source);
  };
  const addFeature = (feature: AnyFeature) => {
    const print = fingerprint(feature);
    const seen = features.get(feature.name);
    if (seen !== undefined && seen.fingerprint !== print) {
      throw new TandemError('DUPLICATE_NAME', `two different features are named ${feature.name}`, {
        path: `feature ${feature.name}`,
      });
    }
    features.set(feature.name, { feature, fingerprint: print });
    if (feature.ir.kind === 'aggregation') addSource(feature.ir.source, `feature ${feature.name}`);
  };

  const list = <T>(value: readonly T[] | undefined, field: keyof Definitions): readonly T[] => {
    if (value === undefined) return [];
    if (!Array.isArray(value)) {
      throw new TandemError('INVALID_DEFINITION', `${field} must be an array`, { path: field });
    }
    return value;
  };
  list(definitions.sources, 'sources').forEach((source, i) => {
    if (typeof source?.ir !== 'object' || source.ir === null || !('fields' in source.ir)) {
      throw new TandemError(
        'INVALID_DEFINITION',
        'not a source: use eventSource() or attributeSource()',
        {
          path: `sources[${i}]`,
        },
      );
    }
    addSource(source.ir, `sources[${i}]`);
  });
  list(definitions.features, 'features').forEach((feature, i) => {
    if (typeof feature?.ir !== 'object' || feature.ir === null || !('inputs' in feature)) {
      throw new TandemError('INVALID_DEFINITION', 'not a feature', { path: `features[${i}]` });
    }
    // A one-feature service resolves the feature's inputs with the core's own closure.
    for (const dependency of featureService(feature.name, [feature]).dependencies) {
      addFeature(dependency);
    }
  });
  list(definitions.services, 'services').forEach((service, i) => {
    if (!Array.isArray(service?.dependencies)) {
      throw new TandemError('INVALID_DEFINITION', 'not a feature service: use featureService()', {
        path: `services[${i}]`,
      });
    }
    for (const dependency of service.dependencies) addFeature(dependency);
  });
  const byName = <T>(map: Map<string, T>) =>
    [...map].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, value]) => value);
  return { sources: byName(sources), features: byName(features) };
}
