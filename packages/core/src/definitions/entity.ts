import { TandemError } from '../errors/errors.js';
import { assertIdentifier } from '../internal/identifier.js';

/** Types an entity key can have. */
export type KeyType = 'string' | 'int';

/** The TypeScript type of a key of type `T`. */
export type KeyValue<T extends KeyType> = T extends 'int' ? number : string;

/** An entity: the thing features describe (a user, a merchant), with typed, possibly composite keys. */
export interface Entity<
  TName extends string = string,
  TKeys extends Record<string, KeyType> = Record<string, KeyType>,
> {
  /** Discriminator. */
  readonly kind: 'entity';
  /** Unique name. */
  readonly name: TName;
  /** Key names and types, in declaration order. */
  readonly keys: Readonly<TKeys>;
  /** Free text; not part of the fingerprint. */
  readonly description: string | undefined;
  /** Type marker: the key object of one entity, e.g. `{ user_id: string }`. */
  readonly $inferKey: { -readonly [K in keyof TKeys]: KeyValue<TKeys[K]> };
}

/** Any entity. */
export type AnyEntity = Entity<string, Record<string, KeyType>>;

/** The key object type of an entity. */
export type InferEntityKey<E extends AnyEntity> = E['$inferKey'];

/**
 * Defines an entity.
 * @example
 * const user = entity({ name: 'user', keys: { user_id: 'string' } });
 */
export function entity<
  const TName extends string,
  const TKeys extends Record<string, KeyType>,
>(definition: { name: TName; keys: TKeys; description?: string }): Entity<TName, TKeys> {
  assertIdentifier(definition.name, 'entity');
  const path = `entity ${definition.name}`;
  const keyNames = Object.keys(definition.keys ?? {});
  if (keyNames.length === 0) {
    throw new TandemError('INVALID_DEFINITION', 'an entity needs at least one key', { path });
  }
  for (const key of keyNames) {
    assertIdentifier(key, `${path}.keys`);
    const type = definition.keys[key];
    if (type !== 'string' && type !== 'int') {
      throw new TandemError(
        'TYPE_MISMATCH',
        `key ${key} must be 'string' or 'int', got ${String(type)}`,
        {
          path: `${path}.keys.${key}`,
        },
      );
    }
  }
  return Object.freeze({
    kind: 'entity',
    name: definition.name,
    keys: Object.freeze({ ...definition.keys }),
    description: definition.description,
  }) as Entity<TName, TKeys>;
}
