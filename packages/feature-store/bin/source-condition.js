// Module resolution hook: adds the `tandem-source` export condition, so workspace packages
// (`@tandem/core`, ...) resolve to their TypeScript sources, like `node --conditions=tandem-source`.

/** @type {import('node:module').ResolveHook} */
export async function resolve(specifier, context, nextResolve) {
  return nextResolve(specifier, {
    ...context,
    conditions: [...context.conditions, 'tandem-source'],
  });
}
