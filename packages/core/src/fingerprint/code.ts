/**
 * Canonical text of a function's source (`fn.toString()`), for the fingerprint of request
 * features. The same TypeScript compiles to differently printed JavaScript depending on the tool
 * (tsc keeps the author's layout, esbuild/tsx minifies whitespace and rewrites literals, vite/oxc
 * reprints with tabs), so hashing the raw text would give one definition several fingerprints.
 * This keeps the tokens and drops what the printers disagree on: whitespace, comments, semicolons,
 * trailing commas, quote style and number spelling, `void 0` for `undefined`, parentheses around
 * a single arrow parameter and around an arrow's expression body.
 */
export function canonicalCode(source: string): string {
  return normalize(tokenize(source))
    .map((t) => t.text)
    .join(' ');
}

type TokenKind = 'id' | 'num' | 'str' | 'tpl' | 'regex' | 'punct';

interface Token {
  readonly kind: TokenKind;
  readonly text: string;
}

const PUNCTUATORS = [
  '>>>=',
  '...',
  '===',
  '!==',
  '**=',
  '<<=',
  '>>=',
  '>>>',
  '&&=',
  '||=',
  '??=',
  '=>',
  '==',
  '!=',
  '<=',
  '>=',
  '&&',
  '||',
  '??',
  '?.',
  '++',
  '--',
  '+=',
  '-=',
  '*=',
  '/=',
  '%=',
  '&=',
  '|=',
  '^=',
  '**',
  '<<',
  '>>',
];

/** Keywords after which a `/` starts a regular expression, not a division. */
const BEFORE_REGEX = new Set([
  'return',
  'typeof',
  'instanceof',
  'in',
  'of',
  'new',
  'delete',
  'void',
  'throw',
  'case',
  'do',
  'else',
  'yield',
  'await',
]);

const IDENTIFIER = /[\p{ID_Start}$_#\\](?:[\p{ID_Continue}$\\]|\u200c|\u200d)*/uy;
const NUMBER =
  /(?:0[xX][\da-fA-F_]+|0[oO][0-7_]+|0[bB][01_]+|(?:\d[\d_]*)?\.?[\d_]*(?:[eE][+-]?[\d_]+)?)n?/y;

function tokenize(source: string): Token[] {
  const tokens: Token[] = [];
  // `{` of blocks and objects, or `${` of template substitutions, innermost last.
  const braces: ('brace' | 'template')[] = [];
  let i = 0;
  const readTemplate = (opening: string) => {
    // Reads template characters up to the closing backtick or a `${`.
    let text = opening;
    while (i < source.length) {
      const c = source[i]!;
      if (c === '\\') {
        text += source.slice(i, i + 2);
        i += 2;
      } else if (c === '`') {
        tokens.push({ kind: 'tpl', text: `${text}\`` });
        i++;
        return;
      } else if (c === '$' && source[i + 1] === '{') {
        tokens.push({ kind: 'tpl', text: `${text}\${` });
        braces.push('template');
        i += 2;
        return;
      } else {
        text += c;
        i++;
      }
    }
    tokens.push({ kind: 'tpl', text });
  };
  while (i < source.length) {
    const c = source[i]!;
    const next = source[i + 1];
    if (/\s/u.test(c)) {
      i++;
    } else if (c === '/' && next === '/') {
      while (i < source.length && source[i] !== '\n' && source[i] !== '\r') i++;
    } else if (c === '/' && next === '*') {
      const end = source.indexOf('*/', i + 2);
      i = end === -1 ? source.length : end + 2;
    } else if (c === '"' || c === "'") {
      let j = i + 1;
      while (j < source.length && source[j] !== c) j += source[j] === '\\' ? 2 : 1;
      tokens.push({ kind: 'str', text: JSON.stringify(decodeString(source.slice(i + 1, j))) });
      i = j + 1;
    } else if (c === '`') {
      i++;
      readTemplate('`');
    } else if (c === '}' && braces.at(-1) === 'template') {
      braces.pop();
      i++;
      readTemplate('}');
    } else if (/\d/u.test(c) || (c === '.' && next !== undefined && /\d/u.test(next))) {
      NUMBER.lastIndex = i;
      const match = NUMBER.exec(source)![0];
      tokens.push({ kind: 'num', text: canonicalNumber(match) });
      i += match.length;
    } else if (c === '/' && regexAllowed(tokens.at(-1))) {
      let j = i + 1;
      let inClass = false;
      while (j < source.length && (inClass || source[j] !== '/')) {
        if (source[j] === '\\') j++;
        else if (source[j] === '[') inClass = true;
        else if (source[j] === ']') inClass = false;
        j++;
      }
      j++;
      while (j < source.length && /[a-z]/u.test(source[j]!)) j++;
      tokens.push({ kind: 'regex', text: source.slice(i, j) });
      i = j;
    } else {
      IDENTIFIER.lastIndex = i;
      const id = IDENTIFIER.exec(source);
      if (id !== null) {
        tokens.push({ kind: 'id', text: id[0] });
        i += id[0].length;
        continue;
      }
      // `?.` followed by a digit is `?` and a number (`a?.5:b`), not optional chaining.
      const punct =
        PUNCTUATORS.find(
          (p) => source.startsWith(p, i) && !(p === '?.' && /\d/u.test(source[i + 2] ?? '')),
        ) ?? c;
      if (punct === '{') braces.push('brace');
      if (punct === '}') braces.pop();
      tokens.push({ kind: 'punct', text: punct });
      i += punct.length;
    }
  }
  return tokens;
}

function regexAllowed(previous: Token | undefined): boolean {
  if (previous === undefined) return true;
  if (previous.kind === 'id') return BEFORE_REGEX.has(previous.text);
  if (previous.kind === 'punct') return ![')', ']', '}'].includes(previous.text);
  return false;
}

function canonicalNumber(text: string): string {
  const digits = text.replaceAll('_', '');
  if (digits.endsWith('n')) {
    try {
      return `${BigInt(digits.slice(0, -1))}n`;
    } catch {
      return digits;
    }
  }
  const value = Number(digits);
  return Number.isNaN(value) ? digits : String(value);
}

const ESCAPES: Readonly<Record<string, string>> = {
  n: '\n',
  r: '\r',
  t: '\t',
  b: '\b',
  f: '\f',
  v: '\v',
  '0': '\0',
};

/** The value of a quoted string literal's body. */
function decodeString(body: string): string {
  let out = '';
  for (let i = 0; i < body.length; i++) {
    const c = body[i]!;
    if (c !== '\\') {
      out += c;
      continue;
    }
    const e = body[++i] ?? '';
    if (e in ESCAPES) {
      out += ESCAPES[e];
    } else if (e === 'x') {
      out += String.fromCharCode(Number.parseInt(body.slice(i + 1, i + 3), 16));
      i += 2;
    } else if (e === 'u' && body[i + 1] === '{') {
      const end = body.indexOf('}', i);
      out += String.fromCodePoint(Number.parseInt(body.slice(i + 2, end), 16));
      i = end;
    } else if (e === 'u') {
      out += String.fromCharCode(Number.parseInt(body.slice(i + 1, i + 5), 16));
      i += 4;
    } else if (e === '\r' && body[i + 1] === '\n') {
      i++; // line continuation
    } else if (e !== '\n' && e !== '\r' && e !== '\u2028' && e !== '\u2029') {
      out += e;
    }
  }
  return out;
}

/** Index of the token closing the bracket opened at `open`, or -1. */
function matching(tokens: readonly Token[], open: number): number {
  let depth = 0;
  for (let i = open; i < tokens.length; i++) {
    const t = tokens[i]!;
    if (t.kind === 'tpl') {
      if (t.text.endsWith('${')) depth++;
      if (t.text.startsWith('}')) depth--;
    } else if (t.kind === 'punct') {
      if (t.text === '(' || t.text === '[' || t.text === '{') depth++;
      if (t.text === ')' || t.text === ']' || t.text === '}') depth--;
    }
    if (depth === 0) return i;
  }
  return -1;
}

const isPunct = (t: Token | undefined, ...texts: string[]) =>
  t !== undefined && t.kind === 'punct' && texts.includes(t.text);

function normalize(input: readonly Token[]): Token[] {
  let tokens = input.filter((t) => !isPunct(t, ';'));
  tokens = tokens.filter((t, i) => !(isPunct(t, ',') && isPunct(tokens[i + 1], ')', ']', '}')));
  const out: Token[] = [];
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i]!;
    const next = tokens[i + 1];
    if (t.kind === 'id' && t.text === 'void' && next?.kind === 'num' && next.text === '0') {
      out.push({ kind: 'id', text: 'undefined' });
      i++;
    } else if (
      isPunct(t, '(') &&
      next?.kind === 'id' &&
      isPunct(tokens[i + 2], ')') &&
      isPunct(tokens[i + 3], '=>')
    ) {
      out.push(next); // (x) => ...  ->  x => ...
      i += 2;
    } else {
      out.push(t);
    }
  }
  // => ( expression )  ->  => expression, where the parentheses close the arrow's body.
  for (let i = 0; i < out.length - 1; i++) {
    if (!isPunct(out[i], '=>') || !isPunct(out[i + 1], '(') || isPunct(out[i + 2], '{')) continue;
    const close = matching(out, i + 1);
    const after = out[close + 1];
    if (close === -1 || !(after === undefined || isPunct(after, ')', ']', '}', ','))) continue;
    out.splice(close, 1);
    out.splice(i + 1, 1);
    i--;
  }
  return out;
}
