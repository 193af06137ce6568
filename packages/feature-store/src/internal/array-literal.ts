/**
 * A Postgres array literal of scalars, bound as one text parameter (pg and PGlite accept it the
 * same way, whatever their own array serialization). Numbers print in their shortest round-trip
 * form, which Postgres parses back exactly; strings are quoted and escaped.
 */
export function arrayLiteral(values: readonly unknown[]): string {
  const items = values.map((v) => {
    if (v === null || v === undefined) return 'NULL';
    if (typeof v === 'string') return `"${v.replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"`;
    return String(v);
  });
  return `{${items.join(',')}}`;
}
