import type { AnyEntity } from './entity.js';
import {
  type AttributeFeatures,
  attributeFeatures,
  type EventAggregations,
  eventAggregations,
} from './feature.js';
import { type FieldSpec, resolveSource, type Source, type SourceDefinition } from './source.js';

/** An event source with its aggregation methods. */
export type EventSource<
  TName extends string = string,
  TEntity extends AnyEntity = AnyEntity,
  TFields extends Record<string, FieldSpec> = Record<string, FieldSpec>,
> = Source<TName, TEntity, TFields> & EventAggregations<Source<TName, TEntity, TFields>, TFields>;

/** An attribute (entity) table with its `latest` method. */
export type AttributeSource<
  TName extends string = string,
  TEntity extends AnyEntity = AnyEntity,
  TFields extends Record<string, FieldSpec> = Record<string, FieldSpec>,
> = Source<TName, TEntity, TFields> & AttributeFeatures<Source<TName, TEntity, TFields>, TFields>;

/**
 * Defines an event source: timestamped events of one entity, in a managed table (omit `table`)
 * or the user's own table read in place.
 * @example
 * const transactions = eventSource({
 *   name: 'transactions',
 *   entity: user,
 *   fields: { amount: 'float', merchant: 'string' },
 * });
 * const txSum7d = transactions.sum('amount').window('7d').as('tx_sum_7d');
 */
export function eventSource<
  const TName extends string,
  TEntity extends AnyEntity,
  const TFields extends Record<string, FieldSpec>,
>(definition: SourceDefinition<TName, TEntity, TFields>): EventSource<TName, TEntity, TFields> {
  const source = resolveSource('events', definition);
  return Object.freeze({ ...source, ...eventAggregations<typeof source, TFields>(source) });
}

/**
 * Defines an attribute source: rows of slowly changing entity attributes (a profile table),
 * each valid from its timestamp on.
 * @example
 * const profiles = attributeSource({ name: 'profiles', entity: user, table: 'users', fields: { country: 'string' } });
 * const country = profiles.latest('country', { ttl: '365d' }).as('country');
 */
export function attributeSource<
  const TName extends string,
  TEntity extends AnyEntity,
  const TFields extends Record<string, FieldSpec>,
>(definition: SourceDefinition<TName, TEntity, TFields>): AttributeSource<TName, TEntity, TFields> {
  const source = resolveSource('attributes', definition);
  return Object.freeze({ ...source, ...attributeFeatures<typeof source, TFields>(source) });
}
