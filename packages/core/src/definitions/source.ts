import { type Column, getTableColumns, getTableName, is, Table } from 'drizzle-orm';
import { getTableConfig, type PgTable } from 'drizzle-orm/pg-core';
import { TandemError } from '../errors/errors.js';
import { Expr } from '../expr/builder.js';
import { VALUE_TYPES, type ValueType } from '../expr/types.js';
import { assertColumnName, assertIdentifier } from '../internal/identifier.js';
import type { AnyEntity } from './entity.js';

/** Drizzle column types that hold integers. */
type DrizzleIntColumn =
  | 'PgInteger'
  | 'PgSmallInt'
  | 'PgBigInt53'
  | 'PgBigInt64'
  | 'PgSerial'
  | 'PgSmallSerial'
  | 'PgBigSerial53'
  | 'PgBigSerial64';

const DRIZZLE_TYPES: Readonly<Record<string, ValueType | 'timestamp'>> = {
  PgInteger: 'int',
  PgSmallInt: 'int',
  PgBigInt53: 'int',
  PgBigInt64: 'int',
  PgSerial: 'int',
  PgSmallSerial: 'int',
  PgBigSerial53: 'int',
  PgBigSerial64: 'int',
  PgDoublePrecision: 'float',
  PgReal: 'float',
  PgNumeric: 'float',
  PgNumericNumber: 'float',
  PgText: 'string',
  PgVarchar: 'string',
  PgChar: 'string',
  PgUUID: 'string',
  PgBoolean: 'bool',
  PgTimestamp: 'timestamp',
  PgTimestampString: 'timestamp',
};

/** The value type Tandem reads from a drizzle column, at the type level. */
export type DrizzleValueType<C> =
  C extends Column<infer Config>
    ? Config['columnType'] extends DrizzleIntColumn
      ? 'int'
      : Config['columnType'] extends 'PgBoolean'
        ? 'bool'
        : Config['dataType'] extends 'number'
          ? 'float'
          : Config['columnType'] extends 'PgNumeric'
            ? 'float'
            : Config['dataType'] extends 'string'
              ? 'string'
              : never
    : never;

/**
 * A field of a source: a value type (the column has the field's name), a drizzle column, or the
 * full form with a column name and nullability.
 */
export type FieldSpec =
  | ValueType
  | Column
  | { readonly type: ValueType; readonly column?: string | Column; readonly nullable?: boolean };

/** The value type of a field spec. */
export type FieldType<F> = F extends ValueType
  ? F
  : F extends Column
    ? DrizzleValueType<F>
    : F extends { readonly type: infer T extends ValueType }
      ? T
      : never;

/** How event times are stored: integer epoch milliseconds, or a Postgres timestamp (read as UTC). */
export type TimeUnit = 'epoch_ms' | 'timestamp';

/** Column mapping of the event time. A plain string means an `epoch_ms` column of that name. */
export type TimestampSpec =
  | string
  | Column
  | { readonly column: string | Column; readonly unit: TimeUnit };

/** Resolved, serializable form of a source field. */
export interface FieldIR {
  readonly type: ValueType;
  readonly column: string;
  readonly nullable: boolean;
}

/**
 * Resolved, serializable form of a source. `table` is null for a managed event table, which the
 * offline store creates and names; otherwise it is the user's own table, read in place.
 */
export interface SourceIR {
  readonly kind: 'events' | 'attributes';
  readonly name: string;
  readonly entity: { readonly name: string; readonly keys: Readonly<Record<string, string>> };
  readonly table: { readonly schema: string | null; readonly name: string } | null;
  readonly keyColumns: Readonly<Record<string, string>>;
  readonly timestamp: { readonly column: string; readonly unit: TimeUnit };
  readonly eventId: string | null;
  readonly ingestedAt: string | null;
  readonly sequence: string | null;
  readonly fields: Readonly<Record<string, FieldIR>>;
}

/** Column names of managed event tables. */
export const MANAGED_COLUMNS = {
  timestamp: 'ts',
  eventId: 'event_id',
  ingestedAt: 'ingested_at',
  sequence: 'seq',
} as const;

/** Definition of a source: where events (or attribute rows) of one entity live. */
export interface SourceDefinition<
  TName extends string,
  TEntity extends AnyEntity,
  TFields extends Record<string, FieldSpec>,
> {
  /** Unique source name. */
  readonly name: TName;
  /** The entity the rows describe. */
  readonly entity: TEntity;
  /** Value columns. */
  readonly fields: TFields;
  /**
   * The user's own table (a name, `schema.name`, or a drizzle table), read in place. Omit it for
   * a managed table that Tandem creates and fills through its ingestion API.
   */
  readonly table?: string | PgTable;
  /** Column of each entity key when it differs from the key name. */
  readonly keyColumns?: { readonly [K in keyof TEntity['keys']]?: string | Column };
  /** Event time column; default `ts` as epoch milliseconds. */
  readonly timestamp?: TimestampSpec;
  /** Unique event id column (ties and dedupe); default `event_id` on managed tables. */
  readonly eventId?: string | Column | null;
  /** Ingestion time column (no look-ahead on late data); default `ingested_at` on managed tables. */
  readonly ingestedAt?: string | Column | null;
  /** Ingestion order column, the last tie-breaker; default `seq` on managed tables. */
  readonly sequence?: string | Column | null;
  /** Free text; not part of the fingerprint. */
  readonly description?: string;
}

/** A resolved source, with typed expressions for its fields. */
export interface Source<
  TName extends string = string,
  TEntity extends AnyEntity = AnyEntity,
  TFields extends Record<string, FieldSpec> = Record<string, FieldSpec>,
> {
  /** Unique source name. */
  readonly name: TName;
  /** The entity the rows describe. */
  readonly entity: TEntity;
  /** Serializable description of where and how the rows are stored. */
  readonly ir: SourceIR;
  /** Free text; not part of the fingerprint. */
  readonly description: string | undefined;
  /** Typed column expressions, for `where` filters and aggregated values. */
  readonly fields: { readonly [K in keyof TFields]: Expr<FieldType<TFields[K]>> };
}

/** Resolves a source definition; shared by event and attribute sources. */
export function resolveSource<
  TName extends string,
  TEntity extends AnyEntity,
  TFields extends Record<string, FieldSpec>,
>(
  kind: SourceIR['kind'],
  definition: SourceDefinition<TName, TEntity, TFields>,
): Source<TName, TEntity, TFields> {
  assertIdentifier(definition.name, `${kind === 'events' ? 'eventSource' : 'attributeSource'}`);
  const path = `source ${definition.name}`;
  if (definition.entity?.kind !== 'entity') {
    throw new TandemError('INVALID_DEFINITION', 'entity must be an entity() definition', { path });
  }
  const table = resolveTable(definition.table, path);
  const drizzleColumns = is(definition.table, Table)
    ? (getTableColumns(definition.table as PgTable) as Record<string, Column>)
    : undefined;
  const managed = table === null;
  const columnOf = (spec: string | Column, where: string): string =>
    resolveColumn(spec, drizzleColumns, `${path}.${where}`);

  const keyColumns: Record<string, string> = {};
  for (const key of Object.keys(definition.entity.keys)) {
    const mapped = (definition.keyColumns as Record<string, string | Column> | undefined)?.[key];
    keyColumns[key] = columnOf(mapped ?? key, `keyColumns.${key}`);
  }
  for (const key of Object.keys(definition.keyColumns ?? {})) {
    if (!(key in definition.entity.keys)) {
      throw new TandemError(
        'UNKNOWN_COLUMN',
        `keyColumns names ${key}, which is not a key of entity ${definition.entity.name}`,
        { path },
      );
    }
  }

  const timestamp = resolveTimestamp(definition.timestamp, drizzleColumns, path);
  const optionalColumn = (
    spec: string | Column | null | undefined,
    fallback: string,
    where: string,
  ) =>
    spec === undefined ? (managed ? fallback : null) : spec === null ? null : columnOf(spec, where);

  const fields: Record<string, FieldIR> = {};
  const fieldNames = Object.keys(definition.fields ?? {});
  if (fieldNames.length === 0) {
    throw new TandemError('INVALID_DEFINITION', 'a source needs at least one field', { path });
  }
  for (const name of fieldNames) {
    assertIdentifier(name, `${path}.fields`);
    if (name.startsWith('__') || name === 'ts' || name in definition.entity.keys) {
      throw new TandemError(
        'DUPLICATE_NAME',
        `field ${name} clashes with an entity key or a reserved name (ts, __*)`,
        { path: `${path}.fields.${name}` },
      );
    }
    fields[name] = resolveField(
      name,
      definition.fields[name]!,
      drizzleColumns,
      `${path}.fields.${name}`,
    );
  }

  const ir: SourceIR = {
    kind,
    name: definition.name,
    entity: { name: definition.entity.name, keys: { ...definition.entity.keys } },
    table,
    keyColumns,
    timestamp,
    eventId: optionalColumn(definition.eventId, MANAGED_COLUMNS.eventId, 'eventId'),
    ingestedAt: optionalColumn(definition.ingestedAt, MANAGED_COLUMNS.ingestedAt, 'ingestedAt'),
    sequence: optionalColumn(definition.sequence, MANAGED_COLUMNS.sequence, 'sequence'),
    fields,
  };
  assertDistinctColumns(ir, path);

  const exprs: Record<string, Expr> = {};
  for (const [name, field] of Object.entries(fields)) {
    exprs[name] = new Expr({ kind: 'column', name, type: field.type });
  }
  return Object.freeze({
    name: definition.name,
    entity: definition.entity,
    ir: deepFreeze(ir),
    description: definition.description,
    fields: Object.freeze(exprs),
  }) as unknown as Source<TName, TEntity, TFields>;
}

function resolveTable(table: string | PgTable | undefined, path: string): SourceIR['table'] {
  if (table === undefined) return null;
  if (typeof table === 'string') {
    const parts = table.split('.');
    if (parts.length > 2) {
      throw new TandemError('INVALID_IDENTIFIER', `table ${table} has more than one dot`, { path });
    }
    for (const part of parts) assertColumnName(part, `${path}.table`);
    return parts.length === 2
      ? { schema: parts[0]!, name: parts[1]! }
      : { schema: null, name: parts[0]! };
  }
  if (is(table, Table)) {
    return { schema: getTableConfig(table).schema ?? null, name: getTableName(table) };
  }
  throw new TandemError('INVALID_DEFINITION', 'table must be a table name or a drizzle pgTable', {
    path,
  });
}

function resolveColumn(
  spec: string | Column,
  drizzleColumns: Record<string, Column> | undefined,
  path: string,
): string {
  if (typeof spec === 'string') {
    if (drizzleColumns !== undefined) {
      const byName =
        Object.values(drizzleColumns).find((c) => c.name === spec) ?? drizzleColumns[spec];
      if (byName === undefined) {
        throw new TandemError('UNKNOWN_COLUMN', `the table has no column ${spec}`, { path });
      }
      return byName.name;
    }
    assertColumnName(spec, path);
    return spec;
  }
  if (drizzleColumns !== undefined && !Object.values(drizzleColumns).includes(spec)) {
    throw new TandemError('UNKNOWN_COLUMN', `column ${spec.name} belongs to another table`, {
      path,
    });
  }
  return spec.name;
}

function resolveField(
  name: string,
  spec: FieldSpec,
  drizzleColumns: Record<string, Column> | undefined,
  path: string,
): FieldIR {
  if (typeof spec === 'string') {
    if (!VALUE_TYPES.includes(spec)) {
      throw new TandemError(
        'TYPE_MISMATCH',
        `unknown type ${spec}; use one of ${VALUE_TYPES.join(', ')}`,
        { path },
      );
    }
    return checkDrizzleType(
      { type: spec, column: resolveColumn(name, drizzleColumns, path), nullable: true },
      drizzleColumns,
      path,
    );
  }
  if (isColumn(spec)) {
    const type = DRIZZLE_TYPES[spec.columnType];
    if (type === undefined || type === 'timestamp') {
      throw new TandemError(
        'TYPE_MISMATCH',
        `column ${spec.name} of type ${spec.columnType} cannot be a feature field`,
        { path },
      );
    }
    return { type, column: resolveColumn(spec, drizzleColumns, path), nullable: !spec.notNull };
  }
  if (!VALUE_TYPES.includes(spec.type)) {
    throw new TandemError('TYPE_MISMATCH', `unknown type ${String(spec.type)}`, { path });
  }
  return checkDrizzleType(
    {
      type: spec.type,
      column: resolveColumn(spec.column ?? name, drizzleColumns, path),
      nullable: spec.nullable ?? true,
    },
    drizzleColumns,
    path,
  );
}

function checkDrizzleType(
  field: FieldIR,
  drizzleColumns: Record<string, Column> | undefined,
  path: string,
): FieldIR {
  const column =
    drizzleColumns && Object.values(drizzleColumns).find((c) => c.name === field.column);
  const actual = column && DRIZZLE_TYPES[column.columnType];
  if (column !== undefined && actual !== field.type) {
    throw new TandemError(
      'TYPE_MISMATCH',
      `declared ${field.type} but column ${column.name} is ${column.columnType}`,
      { path },
    );
  }
  return field;
}

function resolveTimestamp(
  spec: TimestampSpec | undefined,
  drizzleColumns: Record<string, Column> | undefined,
  path: string,
): SourceIR['timestamp'] {
  const where = `${path}.timestamp`;
  if (spec === undefined)
    return {
      column: resolveColumn(MANAGED_COLUMNS.timestamp, drizzleColumns, where),
      unit: 'epoch_ms',
    };
  if (typeof spec === 'string')
    return { column: resolveColumn(spec, drizzleColumns, where), unit: 'epoch_ms' };
  if (isColumn(spec)) {
    const type = DRIZZLE_TYPES[spec.columnType];
    if (type !== 'timestamp' && type !== 'int') {
      throw new TandemError(
        'TYPE_MISMATCH',
        `event time column ${spec.name} must be a timestamp or an integer epoch in ms, got ${spec.columnType}`,
        { path: where },
      );
    }
    return {
      column: resolveColumn(spec, drizzleColumns, where),
      unit: type === 'timestamp' ? 'timestamp' : 'epoch_ms',
    };
  }
  if (spec.unit !== 'epoch_ms' && spec.unit !== 'timestamp') {
    throw new TandemError(
      'INVALID_DEFINITION',
      `timestamp unit must be 'epoch_ms' or 'timestamp'`,
      { path: where },
    );
  }
  return { column: resolveColumn(spec.column, drizzleColumns, where), unit: spec.unit };
}

function assertDistinctColumns(ir: SourceIR, path: string): void {
  const seen = new Map<string, string>();
  const claim = (column: string | null, role: string) => {
    if (column === null) return;
    const previous = seen.get(column);
    if (previous !== undefined) {
      throw new TandemError(
        'DUPLICATE_NAME',
        `column ${column} is used as both ${previous} and ${role}`,
        { path },
      );
    }
    seen.set(column, role);
  };
  for (const [key, column] of Object.entries(ir.keyColumns)) claim(column, `key ${key}`);
  claim(ir.timestamp.column, 'timestamp');
  claim(ir.eventId, 'eventId');
  claim(ir.ingestedAt, 'ingestedAt');
  claim(ir.sequence, 'sequence');
  for (const [name, field] of Object.entries(ir.fields)) claim(field.column, `field ${name}`);
}

function isColumn(value: unknown): value is Column {
  return (
    typeof value === 'object' &&
    value !== null &&
    'columnType' in value &&
    'name' in value &&
    'table' in value
  );
}

/** Freezes an object graph of plain data. */
export function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}
