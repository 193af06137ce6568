import type { z } from 'zod';
import { type AggregationSpec, HLL_PRECISION } from '../aggregations/spec.js';
import { TandemError } from '../errors/errors.js';
import { describeExpr, Expr } from '../expr/builder.js';
import { assertConstantsInRange } from '../expr/constants.js';
import type { ExprNode } from '../expr/ir.js';
import { isNumericType, type ScalarValue, type TsValue, type ValueType } from '../expr/types.js';
import { canonicalCode } from '../fingerprint/code.js';
import { assertIdentifier } from '../internal/identifier.js';
import { type DurationInput, toMillis } from '../time/duration.js';
import { LIFETIME, slidingWindow, type WindowSpec } from '../time/window.js';
import type { AnyEntity } from './entity.js';
import {
  deepFreeze,
  type FieldSpec,
  type FieldType,
  type Source,
  type SourceIR,
} from './source.js';

/** Serializable definition of a feature: what the fingerprint hashes and both engines read. */
export type FeatureIR =
  | {
      /** A windowed aggregation over an event source, or (`latest`) an attribute value. */
      readonly kind: 'aggregation';
      readonly name: string;
      readonly source: SourceIR;
      readonly aggregation: AggregationSpec;
      readonly value: ExprNode | null;
      readonly where: ExprNode | null;
      readonly window: WindowSpec;
      readonly default: ScalarValue;
    }
  | {
      /** An expression over other features of the same entity. */
      readonly kind: 'derived';
      readonly name: string;
      readonly expr: ExprNode;
      readonly inputs: readonly FeatureIR[];
    }
  | {
      /** A pure TS function of request data and fetched features. */
      readonly kind: 'request';
      readonly name: string;
      readonly inputSchema: unknown;
      readonly code: string;
      readonly valueType: ValueType;
      readonly inputs: readonly FeatureIR[];
    };

/**
 * A named feature. `$inferValue` is the TypeScript type of its value; `$inferRequest` the request
 * data it needs (request-time features only); `TEntity` the entity whose keys it needs.
 */
export interface Feature<
  TName extends string = string,
  TValue = unknown,
  TRequest = unknown,
  TEntity extends AnyEntity | null = AnyEntity | null,
> {
  /** Unique name within a feature service. */
  readonly name: TName;
  /** The serializable definition. */
  readonly ir: FeatureIR;
  /** The entity whose features these are; null for request features that use none. */
  readonly entity: TEntity;
  /** Type of the value (of each element, for lists). */
  readonly valueType: ValueType;
  /** True for `lastK` / `firstK`, whose value is a list. */
  readonly list: boolean;
  /** Features this one is computed from (derived and request features). */
  readonly inputs: readonly AnyFeature[];
  /** Request-time computation (request features only). */
  readonly compute: ((input: never, features: never) => ScalarValue) | undefined;
  /** Zod schema of the request data (request features only). */
  readonly inputSchema: z.ZodType | undefined;
  /** Free text; not part of the fingerprint. */
  readonly description: string | undefined;
  /** Type marker: the value type. */
  readonly $inferValue: TValue;
  /** Type marker: request data needed. */
  readonly $inferRequest: TRequest;
}

/** Any feature. */
// biome-ignore lint/suspicious/noExplicitAny: variance escape hatch for heterogeneous feature lists
export type AnyFeature = Feature<string, any, any, any>;

/** A feature whose value can be used in expressions (scalar, not a list). */
export type ScalarFeature<T extends ValueType = ValueType> = Feature<
  string,
  TsValue<T> | null,
  unknown
> & {
  readonly list: false;
};

interface AggregationState {
  readonly source: Source;
  readonly aggregation: AggregationSpec;
  readonly value: Expr | null;
  readonly where: Expr | null;
  readonly window:
    | WindowSpec
    | { readonly length: DurationInput; readonly hop: DurationInput | undefined };
  readonly default: ScalarValue;
  readonly description: string | undefined;
  readonly valueType: ValueType;
  readonly list: boolean;
}

/**
 * An aggregation being defined: chain `.window()`, `.where()`, `.default()`, `.describe()`, then
 * name it with `.as()`. Every method returns a new builder.
 */
export class AggregationBuilder<TSource extends Source, TValue> {
  readonly #state: AggregationState;

  /** @internal Use a source's aggregation methods (`source.sum('amount')`). */
  constructor(state: AggregationState) {
    this.#state = state;
  }

  /**
   * Windows the aggregation to `[T(q), q)` with `T(q) = floor((q - length) / hop) * hop`. The
   * default hop is 1d from 12d up, 1h from 12h up, else 5m; `length` must be a multiple of it.
   */
  window(
    length: DurationInput,
    options: { hop?: DurationInput } = {},
  ): AggregationBuilder<TSource, TValue> {
    return new AggregationBuilder({ ...this.#state, window: { length, hop: options.hop } });
  }

  /** Counts only events for which `predicate` is true (null counts as false). */
  where(
    predicate: (fields: TSource['fields']) => Expr<'bool'>,
  ): AggregationBuilder<TSource, TValue> {
    const where = predicate(this.#state.source.fields as TSource['fields']);
    if (!(where instanceof Expr) || where.type !== 'bool') {
      throw new TandemError('TYPE_MISMATCH', 'where() must return a bool expression', {
        path: `source ${this.#state.source.name}`,
      });
    }
    return new AggregationBuilder({ ...this.#state, where });
  }

  /** The value to use instead of null (an empty window). */
  default(value: NonNullable<TValue>): AggregationBuilder<TSource, NonNullable<TValue>> {
    return new AggregationBuilder({ ...this.#state, default: value as ScalarValue });
  }

  /** A human description; not part of the fingerprint. */
  describe(text: string): AggregationBuilder<TSource, TValue> {
    return new AggregationBuilder({ ...this.#state, description: text });
  }

  /** Names the feature, validating the whole definition. */
  as<const TName extends string>(name: TName): Feature<TName, TValue, unknown, TSource['entity']> {
    assertIdentifier(name, 'feature');
    const path = `feature ${name}`;
    const state = this.#state;
    const window = resolveWindow(state.window, path);
    for (const expr of [state.value, state.where]) {
      if (expr !== null) withPath(path, () => assertConstantsInRange(expr.node));
    }
    if (state.default !== null && !matchesType(state.default, state.valueType)) {
      throw new TandemError(
        'TYPE_MISMATCH',
        `default ${JSON.stringify(state.default)} is not a ${state.valueType}`,
        { path },
      );
    }
    const ir: FeatureIR = {
      kind: 'aggregation',
      name,
      source: state.source.ir,
      aggregation: state.aggregation,
      value: state.value?.node ?? null,
      where: state.where?.node ?? null,
      window,
      default: state.default,
    };
    return makeFeature({
      name,
      ir,
      entity: state.source.entity,
      valueType: state.valueType,
      list: state.list,
      description: state.description,
    });
  }
}

/** Aggregation methods of an event source. `F` is the source's field spec. */
export interface EventAggregations<TSource extends Source, F extends Record<string, FieldSpec>> {
  /** Number of events (or of non-null values of `value`). Empty window: 0. */
  count(value?: ValueArg<TSource, F, ValueType>): AggregationBuilder<TSource, number>;
  /** Sum. Empty window: 0. */
  sum(value: ValueArg<TSource, F, 'int' | 'float'>): AggregationBuilder<TSource, number>;
  /** Arithmetic mean. Empty window: null. */
  mean(value: ValueArg<TSource, F, 'int' | 'float'>): AggregationBuilder<TSource, number | null>;
  /** Minimum. Empty window: null. */
  min(value: ValueArg<TSource, F, 'int' | 'float'>): AggregationBuilder<TSource, number | null>;
  /** Maximum. Empty window: null. */
  max(value: ValueArg<TSource, F, 'int' | 'float'>): AggregationBuilder<TSource, number | null>;
  /** Sample variance (n - 1). Fewer than 2 values: null. */
  variance(
    value: ValueArg<TSource, F, 'int' | 'float'>,
  ): AggregationBuilder<TSource, number | null>;
  /** Sample standard deviation (n - 1). Fewer than 2 values: null. */
  stddev(value: ValueArg<TSource, F, 'int' | 'float'>): AggregationBuilder<TSource, number | null>;
  /** The value of the last event (greatest `(ts, eventId)`), ignoring nulls. Empty window: null. */
  last<K extends keyof F & string>(
    field: K,
  ): AggregationBuilder<TSource, TsValue<FieldType<F[K]>> | null>;
  last<T extends ValueType>(
    value: (fields: TSource['fields']) => Expr<T>,
  ): AggregationBuilder<TSource, TsValue<T> | null>;
  /** The values of the last `k` events, newest first. */
  lastK<K extends keyof F & string>(
    field: K,
    k: number,
  ): AggregationBuilder<TSource, TsValue<FieldType<F[K]>>[]>;
  lastK<T extends ValueType>(
    value: (fields: TSource['fields']) => Expr<T>,
    k: number,
  ): AggregationBuilder<TSource, TsValue<T>[]>;
  /** The values of the first `k` events, oldest first. */
  firstK<K extends keyof F & string>(
    field: K,
    k: number,
  ): AggregationBuilder<TSource, TsValue<FieldType<F[K]>>[]>;
  firstK<T extends ValueType>(
    value: (fields: TSource['fields']) => Expr<T>,
    k: number,
  ): AggregationBuilder<TSource, TsValue<T>[]>;
  /** Approximate number of distinct values (HyperLogLog, 2^12 registers). Empty window: 0. */
  countDistinct(
    value: ValueArg<TSource, F, 'int' | 'string' | 'bool'>,
  ): AggregationBuilder<TSource, number>;
}

/** A field name of the given types, or a function of the fields returning an expression. */
export type ValueArg<
  TSource extends Source,
  F extends Record<string, FieldSpec>,
  T extends ValueType,
> =
  | { [K in keyof F]: FieldType<F[K]> extends T ? K : never }[keyof F]
  | ((fields: TSource['fields']) => Expr<T>);

/** Builds the aggregation methods of a source. */
export function eventAggregations<TSource extends Source, F extends Record<string, FieldSpec>>(
  source: TSource,
): EventAggregations<TSource, F> {
  const start = (
    aggregation: AggregationSpec,
    arg: unknown,
    allowed: readonly ValueType[] | 'any',
    output: (t: ValueType) => { valueType: ValueType; list: boolean },
  ) => {
    const value = arg === undefined ? null : resolveValue(source, arg, aggregation.fn);
    if (value !== null && allowed !== 'any' && !allowed.includes(value.type)) {
      throw new TandemError(
        'INVALID_AGGREGATION',
        `${aggregation.fn} cannot aggregate ${value.type} values (${describeExpr(value.node)}); allowed: ${allowed.join(', ')}`,
        { path: `source ${source.name}` },
      );
    }
    const { valueType, list } = output(value?.type ?? 'int');
    return new AggregationBuilder({
      source,
      aggregation,
      value,
      where: null,
      window: LIFETIME,
      default: null,
      description: undefined,
      valueType,
      list,
    });
  };
  const numeric = ['int', 'float'] as const;
  const scalar = (t: ValueType) => ({ valueType: t, list: false });
  const float = () => ({ valueType: 'float' as const, list: false });
  const list = (t: ValueType) => ({ valueType: t, list: true });
  return {
    count: (value) => start({ fn: 'count' }, value, 'any', () => scalar('int')),
    sum: (value) => start({ fn: 'sum' }, value, numeric, scalar),
    mean: (value) => start({ fn: 'mean' }, value, numeric, float),
    min: (value) => start({ fn: 'min' }, value, numeric, scalar),
    max: (value) => start({ fn: 'max' }, value, numeric, scalar),
    variance: (value) => start({ fn: 'variance' }, value, numeric, float),
    stddev: (value) => start({ fn: 'stddev' }, value, numeric, float),
    last: (value: unknown) => start({ fn: 'last' }, value, 'any', scalar),
    lastK: (value: unknown, k: number) =>
      start({ fn: 'last_k', k: checkK(k, source) }, value, 'any', list),
    firstK: (value: unknown, k: number) =>
      start({ fn: 'first_k', k: checkK(k, source) }, value, 'any', list),
    countDistinct: (value) =>
      start(
        { fn: 'count_distinct', precision: HLL_PRECISION },
        value,
        ['int', 'string', 'bool'],
        () => scalar('int'),
      ),
  } as EventAggregations<TSource, F>;
}

/** Attribute methods of an attribute source. */
export interface AttributeFeatures<TSource extends Source, F extends Record<string, FieldSpec>> {
  /**
   * The value of the latest row with `ts < q` (null values included). With `ttl`, a row older
   * than `q - ttl` is not served: the value is null.
   */
  latest<K extends keyof F & string>(
    field: K,
    options?: { ttl?: DurationInput },
  ): AggregationBuilder<TSource, TsValue<FieldType<F[K]>> | null>;
}

/** Builds the attribute methods of a source. */
export function attributeFeatures<TSource extends Source, F extends Record<string, FieldSpec>>(
  source: TSource,
): AttributeFeatures<TSource, F> {
  return {
    latest: (field, options = {}) => {
      const value = resolveValue(source, field, 'latest');
      const window: WindowSpec =
        options.ttl === undefined
          ? LIFETIME
          : { kind: 'ttl', length: toMillis(options.ttl, `source ${source.name}.${field}.ttl`) };
      return new AggregationBuilder({
        source,
        aggregation: { fn: 'latest' },
        value,
        where: null,
        window,
        default: null,
        description: undefined,
        valueType: value.type,
        list: false,
      }) as never;
    },
  };
}

/** A typed reference to a scalar feature, for derived expressions. */
export function ref<F extends AnyFeature>(feature: F): Expr<ValueTypeOf<F>> {
  if (feature?.ir === undefined) {
    throw new TandemError('INVALID_ARGUMENT', 'ref() needs a feature');
  }
  if (feature.list) {
    throw new TandemError(
      'TYPE_MISMATCH',
      'list features (lastK, firstK) cannot be used in expressions',
      {
        path: `feature ${feature.name}`,
      },
    );
  }
  return new Expr({ kind: 'feature', name: feature.name, type: feature.valueType });
}

/** The expression value type of a feature, from its TS value type. */
export type ValueTypeOf<F extends AnyFeature> = F['$inferValue'] extends number | null
  ? 'int' | 'float'
  : F['$inferValue'] extends string | null
    ? 'string'
    : F['$inferValue'] extends boolean | null
      ? 'bool'
      : never;

/**
 * A derived feature: an expression over other features of one entity.
 * @example
 * const avgTicket = derived('avg_ticket_7d', { sum: txSum7d, n: txCount7d }, (f) => f.sum.div(f.n));
 */
export function derived<
  const TName extends string,
  const TInputs extends Record<string, AnyFeature>,
  T extends ValueType,
>(
  name: TName,
  inputs: TInputs,
  expression: (features: { [K in keyof TInputs]: Expr<ValueTypeOf<TInputs[K]>> }) => Expr<T>,
  options: { description?: string } = {},
): Feature<TName, TsValue<T> | null, unknown, TInputs[keyof TInputs]['entity']> {
  assertIdentifier(name, 'derived');
  const path = `feature ${name}`;
  const features = Object.values(inputs);
  const entity = sharedEntity(features, path);
  const refs: Record<string, Expr> = {};
  for (const [alias, feature] of Object.entries(inputs)) {
    if (feature.ir.kind === 'request') {
      throw new TandemError(
        'INVALID_DEFINITION',
        `derived features cannot use request feature ${feature.name}; use a request feature instead`,
        { path },
      );
    }
    refs[alias] = withPath(path, () => ref(feature));
  }
  const expr = withPath(path, () => expression(refs as never));
  if (!(expr instanceof Expr)) {
    throw new TandemError(
      'INVALID_DEFINITION',
      'the expression callback must return an expression',
      { path },
    );
  }
  withPath(path, () => assertConstantsInRange(expr.node));
  return makeFeature({
    name,
    ir: { kind: 'derived', name, expr: expr.node, inputs: features.map((f) => f.ir) },
    entity,
    valueType: expr.type,
    list: false,
    inputs: features,
    description: options.description,
  });
}

/** Definition of a request-time feature. */
export interface RequestFeatureDefinition<
  TName extends string,
  TSchema extends z.ZodType,
  TUses extends Record<string, AnyFeature>,
  T extends ValueType,
> {
  /** Feature name. */
  readonly name: TName;
  /** Zod schema of the request data it reads; becomes part of the service's request schema. */
  readonly input: TSchema;
  /** Features it reads, by alias. */
  readonly uses?: TUses;
  /** Value type of the result. */
  readonly type: T;
  /** Pure function of request data and fetched features; same code offline and online. */
  readonly compute: (
    input: z.output<TSchema>,
    features: { [K in keyof TUses]: TUses[K]['$inferValue'] },
  ) => TsValue<T> | null;
  /** Free text; not part of the fingerprint. */
  readonly description?: string;
}

/**
 * A request-time (on-demand) feature: a pure TS function of request data and fetched features.
 * Its fingerprint covers the function's source text and the input schema.
 */
export function requestFeature<
  const TName extends string,
  TSchema extends z.ZodType,
  // biome-ignore lint/complexity/noBannedTypes: no `uses`, no features (and no entity)
  const TUses extends Record<string, AnyFeature> = {},
  T extends ValueType = ValueType,
>(
  definition: RequestFeatureDefinition<TName, TSchema, TUses, T>,
): Feature<
  TName,
  TsValue<T> | null,
  z.input<TSchema>,
  [keyof TUses] extends [never] ? null : TUses[keyof TUses]['entity']
> {
  assertIdentifier(definition.name, 'requestFeature');
  const path = `feature ${definition.name}`;
  if (typeof definition.compute !== 'function') {
    throw new TandemError('INVALID_DEFINITION', 'compute must be a function', { path });
  }
  if (typeof definition.input?.safeParse !== 'function') {
    throw new TandemError('INVALID_DEFINITION', 'input must be a zod schema', { path });
  }
  const features = Object.values(definition.uses ?? {});
  const entity = features.length === 0 ? null : sharedEntity(features, path);
  // Canonical tokens, not the raw text: tsc, esbuild (tsx) and vite print the same code differently.
  const code = canonicalCode(definition.compute.toString());
  const aliases = Object.keys(definition.uses ?? {});
  const compute = (input: never, values: never) =>
    definition.compute(
      input,
      Object.fromEntries(
        aliases.map((a) => [a, (values as Record<string, unknown>)[definition.uses![a]!.name]]),
      ) as never,
    );
  return makeFeature({
    name: definition.name,
    ir: {
      kind: 'request',
      name: definition.name,
      inputSchema: jsonSchemaOf(definition.input, path),
      code: `${JSON.stringify(aliases)}:${code}`,
      valueType: definition.type,
      inputs: features.map((f) => f.ir),
    },
    entity,
    valueType: definition.type,
    list: false,
    inputs: features,
    compute,
    inputSchema: definition.input,
    description: definition.description,
  });
}

function jsonSchemaOf(schema: z.ZodType, path: string): unknown {
  try {
    return (schema as unknown as { toJSONSchema?: () => unknown }).toJSONSchema?.() ?? null;
  } catch (cause) {
    throw new TandemError(
      'INVALID_DEFINITION',
      'the input schema cannot be represented as JSON Schema',
      { path, cause },
    );
  }
}

function makeFeature(parts: {
  name: string;
  ir: FeatureIR;
  entity: AnyEntity | null;
  valueType: ValueType;
  list: boolean;
  inputs?: readonly AnyFeature[];
  compute?: (input: never, features: never) => ScalarValue;
  inputSchema?: z.ZodType;
  description: string | undefined;
}): never {
  return Object.freeze({
    name: parts.name,
    ir: deepFreeze(parts.ir),
    entity: parts.entity,
    valueType: parts.valueType,
    list: parts.list,
    inputs: Object.freeze([...(parts.inputs ?? [])]),
    compute: parts.compute,
    inputSchema: parts.inputSchema,
    description: parts.description,
  }) as never;
}

function resolveValue(source: Source, arg: unknown, fn: string): Expr {
  const path = `source ${source.name}`;
  if (typeof arg === 'string') {
    const field = (source.fields as Record<string, Expr>)[arg];
    if (field === undefined) {
      throw new TandemError(
        'UNKNOWN_COLUMN',
        `${fn}: source has no field ${arg} (fields: ${Object.keys(source.fields).join(', ')})`,
        { path },
      );
    }
    return field;
  }
  if (typeof arg === 'function') {
    const value = withPath(path, () => arg(source.fields));
    if (value instanceof Expr) return value;
  }
  throw new TandemError(
    'INVALID_ARGUMENT',
    `${fn} takes a field name or a function returning an expression`,
    { path },
  );
}

function resolveWindow(window: AggregationState['window'], path: string): WindowSpec {
  if ('kind' in window) return window;
  return slidingWindow(window.length, window.hop, path);
}

function checkK(k: number, source: Source): number {
  if (!Number.isInteger(k) || k < 1 || k > 1000) {
    throw new TandemError('INVALID_ARGUMENT', `k must be an integer from 1 to 1000, got ${k}`, {
      path: `source ${source.name}`,
    });
  }
  return k;
}

function matchesType(value: ScalarValue, type: ValueType): boolean {
  if (isNumericType(type))
    return (
      typeof value === 'number' &&
      Number.isFinite(value) &&
      (type === 'float' || Number.isSafeInteger(value))
    );
  return typeof value === (type === 'string' ? 'string' : 'boolean');
}

function sharedEntity(features: readonly AnyFeature[], path: string): AnyEntity {
  const entities = [
    ...new Set(features.map((f) => f.entity).filter((e): e is AnyEntity => e !== null)),
  ];
  if (features.length === 0 || entities.length === 0) {
    throw new TandemError('INVALID_DEFINITION', 'needs at least one entity feature as input', {
      path,
    });
  }
  if (new Set(entities.map((e) => e.name)).size > 1) {
    throw new TandemError(
      'INVALID_DEFINITION',
      `inputs belong to different entities: ${entities.map((e) => e.name).join(', ')}`,
      { path },
    );
  }
  return entities[0]!;
}

function withPath<T>(path: string, build: () => T): T {
  try {
    return build();
  } catch (error) {
    if (
      error instanceof TandemError &&
      error.path !== undefined &&
      !error.path.startsWith('feature ')
    ) {
      throw new TandemError(error.code, error.message, { path, cause: error });
    }
    throw error;
  }
}
