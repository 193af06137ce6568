import { z } from 'zod';
import { TandemError } from '../errors/errors.js';
import type { ValueType } from '../expr/types.js';
import { fingerprint } from '../fingerprint/fingerprint.js';
import { assertIdentifier } from '../internal/identifier.js';
import type { AnyEntity, KeyType } from './entity.js';
import type { AnyFeature } from './feature.js';

/** One column of a model's input, in order. */
export interface LayoutEntry {
  /** Feature name. */
  readonly name: string;
  /** Value type (of each element, for lists). */
  readonly valueType: ValueType;
  /** True for list features. */
  readonly list: boolean;
  /** Feature fingerprint. */
  readonly fingerprint: string;
}

/**
 * A feature service: the ordered feature list one model consumes. It knows the request schema
 * (entity keys + request data) and the dependency closure the engines must compute.
 */
export interface FeatureService<
  TName extends string = string,
  TFeatures extends readonly AnyFeature[] = readonly AnyFeature[],
> {
  /** Service name. */
  readonly name: TName;
  /** Output features, in order. */
  readonly features: TFeatures;
  /** Every feature needed, inputs first (topological order), outputs included. */
  readonly dependencies: readonly AnyFeature[];
  /** Entities whose keys a request must carry. */
  readonly entities: readonly AnyEntity[];
  /** Output layout: name, type and fingerprint of each feature, in order. */
  readonly layout: readonly LayoutEntry[];
  /** Zod schema of a request: entity keys and request data. */
  readonly requestSchema: z.ZodObject;
  /** Free text. */
  readonly description: string | undefined;
  /** Type marker: one row of feature values. */
  readonly $inferRow: InferRowOf<TFeatures>;
  /** Type marker: a request (entity keys and request data). */
  readonly $inferRequest: InferRequestOf<TFeatures>;
}

type InferRowOf<TFeatures extends readonly AnyFeature[]> = {
  [F in TFeatures[number] as F['name']]: F['$inferValue'];
};

type UnionToIntersection<U> = (U extends unknown ? (x: U) => void : never) extends (
  x: infer I,
) => void
  ? I
  : never;

type KeysOf<F extends AnyFeature> = F extends { entity: infer E extends AnyEntity }
  ? E['$inferKey']
  : never;

type InferRequestOf<TFeatures extends readonly AnyFeature[]> = UnionToIntersection<
  KeysOf<TFeatures[number]> | RequestOf<TFeatures[number]>
>;

// Distributive over a union of features: each request feature contributes its own input.
type RequestOf<F extends AnyFeature> = F extends AnyFeature
  ? unknown extends F['$inferRequest']
    ? never
    : F['$inferRequest']
  : never;

/** A row of feature values of a service: `{ [feature name]: value }`. */
export type InferFeatureRow<S extends FeatureService> = S['$inferRow'];

/** A request to a service: entity keys and request data. */
export type InferServiceRequest<S extends FeatureService> = S['$inferRequest'];

/**
 * Defines a feature service.
 * @example
 * const fraud = featureService('fraud_v1', [txCount7d, txSum7d, avgTicket]);
 * type Row = InferFeatureRow<typeof fraud>;
 */
export function featureService<
  const TName extends string,
  const TFeatures extends readonly AnyFeature[],
>(
  name: TName,
  features: TFeatures,
  options: { description?: string } = {},
): FeatureService<TName, TFeatures> {
  assertIdentifier(name, 'featureService');
  const path = `featureService ${name}`;
  if (!Array.isArray(features) || features.length === 0) {
    throw new TandemError('INVALID_DEFINITION', 'a feature service needs at least one feature', {
      path,
    });
  }
  const dependencies = dependencyClosure(features, path);
  const entities = [
    ...new Map(
      dependencies.filter((f) => f.entity !== null).map((f) => [f.entity!.name, f.entity!]),
    ).values(),
  ];
  return Object.freeze({
    name,
    features: Object.freeze([...features]) as unknown as TFeatures,
    dependencies,
    entities,
    layout: Object.freeze(
      features.map((f) =>
        Object.freeze({
          name: f.name,
          valueType: f.valueType,
          list: f.list,
          fingerprint: fingerprint(f),
        }),
      ),
    ),
    requestSchema: requestSchemaOf(entities, dependencies, path),
    description: options.description,
  }) as unknown as FeatureService<TName, TFeatures>;
}

/** Every feature the given ones need, dependencies first; rejects two different features with one name. */
function dependencyClosure(features: readonly AnyFeature[], path: string): readonly AnyFeature[] {
  const byName = new Map<string, AnyFeature>();
  const ordered: AnyFeature[] = [];
  const visit = (feature: AnyFeature, via: string) => {
    if (feature?.ir === undefined) {
      throw new TandemError('INVALID_DEFINITION', `${via} is not a feature`, { path });
    }
    const seen = byName.get(feature.name);
    if (seen !== undefined) {
      if (fingerprint(seen) !== fingerprint(feature)) {
        throw new TandemError(
          'DUPLICATE_NAME',
          `two different features are named ${feature.name}`,
          { path },
        );
      }
      return;
    }
    byName.set(feature.name, feature);
    for (const input of feature.inputs) visit(input, `input of ${feature.name}`);
    ordered.push(feature);
  };
  const outputs = new Set<string>();
  features.forEach((feature, index) => {
    if (outputs.has(feature?.name)) {
      throw new TandemError('DUPLICATE_NAME', `feature ${feature.name} is listed twice`, {
        path: `${path}.features[${index}]`,
      });
    }
    outputs.add(feature?.name);
    visit(feature, `features[${index}]`);
  });
  return Object.freeze(ordered);
}

function requestSchemaOf(
  entities: readonly AnyEntity[],
  features: readonly AnyFeature[],
  path: string,
): z.ZodObject {
  const shape: Record<string, z.ZodType> = {};
  const owner = new Map<string, string>();
  const claim = (field: string, by: string, schema: z.ZodType) => {
    const previous = owner.get(field);
    if (previous !== undefined && previous !== by) {
      throw new TandemError(
        'DUPLICATE_NAME',
        `request field ${field} is claimed by ${previous} and ${by}`,
        { path },
      );
    }
    owner.set(field, by);
    shape[field] = schema;
  };
  for (const entity of entities) {
    for (const [key, type] of Object.entries(entity.keys))
      claim(key, `entity ${entity.name}`, keySchema(type));
  }
  for (const feature of features) {
    const input = feature.inputSchema;
    if (input === undefined) continue;
    if (!(input instanceof z.ZodObject)) {
      throw new TandemError(
        'INVALID_DEFINITION',
        `request feature ${feature.name} must use a z.object() input schema`,
        { path },
      );
    }
    for (const [field, schema] of Object.entries(input.shape)) {
      const previous = shape[field];
      if (
        previous !== undefined &&
        owner.get(field)?.startsWith('request') &&
        JSON.stringify(z.toJSONSchema(previous)) ===
          JSON.stringify(z.toJSONSchema(schema as z.ZodType))
      )
        continue;
      claim(field, `request feature ${feature.name}`, schema as z.ZodType);
    }
  }
  return z.object(shape).strict();
}

function keySchema(type: KeyType): z.ZodType {
  return type === 'int'
    ? z.number().int().refine(Number.isSafeInteger, 'must be a safe integer')
    : z.string().min(1);
}
