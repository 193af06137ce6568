/** Scalar value types of columns, features and expressions. Timestamps are `int` epoch milliseconds. */
export type ValueType = 'int' | 'float' | 'string' | 'bool';

/** The TypeScript type of a non-null value of `T`. */
export type TsValue<T extends ValueType> = T extends 'int' | 'float'
  ? number
  : T extends 'string'
    ? string
    : T extends 'bool'
      ? boolean
      : never;

/** A scalar value as it flows through expressions; `null` is SQL NULL. */
export type ScalarValue = number | string | boolean | null;

/** The numeric value types. */
export type NumericType = 'int' | 'float';

/** True for `int` and `float`. */
export function isNumericType(type: ValueType): type is NumericType {
  return type === 'int' || type === 'float';
}

/** The list of value types, in a stable order. */
export const VALUE_TYPES: readonly ValueType[] = ['int', 'float', 'string', 'bool'];
