import {
  type AnyNode,
  type Options,
  parseExpressionAt,
  type Token,
  tokenizer,
  tokTypes as tt,
} from 'acorn';

const OPTIONS = { ecmaVersion: 'latest', allowHashBang: false } as const satisfies Options;
const CLOSERS = [tt.parenR, tt.bracketR, tt.braceR];

/**
 * Canonical text of a function's source (`fn.toString()`), for the fingerprint of request
 * features. The same TypeScript compiles to differently printed JavaScript depending on the tool
 * (tsc keeps the author's layout, esbuild/tsx minifies whitespace and rewrites literals, vite/oxc
 * reprints with tabs), so hashing the raw text would give one definition several fingerprints.
 * This keeps the tokens and drops what the printers disagree on: whitespace, comments, semicolons
 * (but those of `for (;;)` headers), trailing commas, quote style and number spelling, `void 0`
 * for `undefined`, parentheses around a single arrow parameter and around an arrow's expression
 * body (unless it is a comma sequence or starts with `{`).
 * @param source - an arrow function, a function expression or a method (`compute(a) { ... }`);
 * text that does not parse as one (`[native code]`) is only tokenized.
 */
export function canonicalCode(source: string): string {
  const { text, tokens, nodes } = parse(source);
  const index = new Map(tokens.map((t, i) => [t.start, i]));
  const at = (pos: number, offset = 0) => tokens[(index.get(pos) ?? Number.NaN) + offset];
  const ends = new Set(nodes.map((n) => n.end));
  const literals = new Map(
    nodes.flatMap((n) => (n.type === 'Literal' ? [[n.start, n.value] as const] : [])),
  );
  const drop = new Set(tokens.filter((t) => t.type === tt.semi));
  for (const node of nodes) {
    if (node.type === 'ForStatement') {
      // Keep the semicolons of the header: those in it that do not end a nested statement.
      for (const t of tokens.slice(index.get(node.start), index.get(node.body.start))) {
        if (t.type === tt.semi && !ends.has(t.end)) drop.delete(t);
      }
    }
    // => ((x + 1))  ->  => x + 1
    let body: AnyNode | undefined = node.type === 'ArrowFunctionExpression' ? node.body : undefined;
    while (
      body?.type === 'ParenthesizedExpression' &&
      body.expression.type !== 'SequenceExpression' &&
      at(body.start, 1)?.type !== tt.braceL
    ) {
      for (const t of [at(body.start), at(body.end - 1)]) if (t !== undefined) drop.add(t);
      body = body.expression;
    }
  }
  const kept = tokens.filter((t) => !drop.has(t));
  const rest = kept.filter(
    (t, i) => t.type !== tt.comma || !CLOSERS.includes(kept[i + 1]?.type ?? tt.eof),
  );
  const out: string[] = [];
  for (let i = 0; i < rest.length; i++) {
    const [t, next] = [rest[i]!, rest[i + 1]];
    const value = literals.get(t.start);
    if (t.type === tt._void && next !== undefined && literals.get(next.start) === 0) {
      out.push('undefined');
      i++;
    } else if (
      t.type === tt.parenL &&
      next?.type === tt.name &&
      rest[i + 2]?.type === tt.parenR &&
      rest[i + 3]?.type === tt.arrow
    ) {
      out.push(text.slice(next.start, next.end)); // (x) => ...  ->  x => ...
      i += 2;
    } else if (t.type === tt.template || rest[i - 1]?.type === tt.template) {
      out.push(`${out.pop() ?? ''}${text.slice(t.start, t.end)}`); // `a${ and }b`, as one token
    } else if (typeof value === 'string') {
      out.push(JSON.stringify(value));
    } else if (typeof value === 'number' || typeof value === 'bigint') {
      out.push(typeof value === 'bigint' ? `${value}n` : String(value));
    } else {
      out.push(text.slice(t.start, t.end));
    }
  }
  return out.join(' ');
}

/**
 * The tokens and AST nodes of a function's source, parsed as an expression `(source)` or, for a
 * method, as an object literal `({source})`; only the tokens when neither parses.
 */
function parse(source: string): { text: string; tokens: Token[]; nodes: AnyNode[] } {
  for (const [open, close] of [
    ['(', ')'],
    ['({', '})'],
  ] as const) {
    const text = `${open}${source}\n${close}`;
    const tokens: Token[] = [];
    try {
      const root = parseExpressionAt(text, 0, {
        ...OPTIONS,
        preserveParens: true,
        onToken: tokens,
      });
      const inner = tokens.filter(
        (t) => t.start >= open.length && t.end <= open.length + source.length,
      );
      return { text, tokens: inner, nodes: [...descendants(root)] };
    } catch {
      // not this kind of function
    }
  }
  return { text: source, tokens: [...tokenizer(source, OPTIONS)], nodes: [] };
}

/** `node` and every node below it. */
function* descendants(node: unknown): Generator<AnyNode> {
  if (Array.isArray(node)) for (const child of node) yield* descendants(child);
  else if (typeof node === 'object' && node !== null && 'type' in node) {
    yield node as AnyNode;
    for (const child of Object.values(node)) yield* descendants(child);
  }
}
