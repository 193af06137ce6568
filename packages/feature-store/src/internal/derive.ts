import { type AnyFeature, compileJs, type ScalarValue, TandemError } from '@tandem/core';

/**
 * Computes the derived and request-time features of a row, inputs first, into `values` (which
 * already holds every aggregation value). One implementation for training sets and online reads,
 * so both paths run the same code. `path` names the row in errors, e.g. `entityRows[3]`.
 * @throws {TandemError} `INVALID_ARGUMENT` when request data fails a request feature's schema.
 */
export type RowCompletion = (
  values: Map<string, unknown>,
  requestData: Readonly<Record<string, unknown>>,
  path: string,
) => void;

/** Compiles the {@link RowCompletion} of a dependency list (topological order, as in services). */
export function compileRowCompletion(all: readonly AnyFeature[]): RowCompletion {
  const steps = all.flatMap((feature) => {
    if (feature.ir.kind === 'derived') {
      const evaluate = compileJs(feature.ir.expr);
      return [
        (values: Map<string, unknown>) => {
          values.set(
            feature.name,
            evaluate({
              column: () => null,
              feature: (name) => (values.get(name) ?? null) as ScalarValue,
            }),
          );
        },
      ];
    }
    if (feature.ir.kind === 'request') {
      return [
        (
          values: Map<string, unknown>,
          requestData: Readonly<Record<string, unknown>>,
          path: string,
        ) => {
          const input = feature.inputSchema!.safeParse(requestData);
          if (!input.success) {
            const issue = input.error.issues[0]!;
            throw new TandemError(
              'INVALID_ARGUMENT',
              `request feature ${feature.name}: ${issue.message}`,
              { path: `${path}.${issue.path.map(String).join('.')}` },
            );
          }
          values.set(
            feature.name,
            feature.compute!(input.data as never, Object.fromEntries(values) as never),
          );
        },
      ];
    }
    return [];
  });
  return (values, requestData, path) => {
    for (const step of steps) step(values, requestData, path);
  };
}
