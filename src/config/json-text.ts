/**
 * daemon.json text → object. Syntax errors use Go's encoding/json wording (dockerd prints
 * them as is, e.g. `invalid character ',' looking for beginning of object key string`), with
 * the line and column added because Go's message gives no position.
 */
import { ConfigError, configMessages as m } from './messages.js';

export function parseConfigFileText(text: string, file: string): Record<string, unknown> {
  const body = text.replace(/^\uFEFF/, '');
  if (body.trim() === '') return {};
  const syntaxError = goSyntaxError(body);
  if (syntaxError) throw new ConfigError(m.withFile(file, syntaxError));
  const value: unknown = JSON.parse(body);
  // Go decodes `null` into a map as "no entries".
  if (value === null) return {};
  if (typeof value !== 'object' || Array.isArray(value)) {
    const type = Array.isArray(value) ? 'array' : typeof value === 'boolean' ? 'bool' : typeof value;
    throw new ConfigError(m.withFile(file, m.notAnObject(type)));
  }
  return value as Record<string, unknown>;
}

const WS = new Set([' ', '\t', '\n', '\r']);
const END = 'unexpected end of JSON input';

/** Go's scanner quoteChar. */
function quoteChar(c: string): string {
  if (c === "'") return `'\\''`;
  if (c === '"') return `'"'`;
  const special: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t', '\b': '\\b', '\f': '\\f', '\\': '\\\\' };
  const code = c.codePointAt(0) ?? 0;
  const shown = special[c] ?? (code < 0x20 || code === 0x7f ? `\\x${code.toString(16).padStart(2, '0')}` : c);
  return `'${shown}'`;
}

/**
 * A recursive-descent check that reports the first error the way Go's scanner words it.
 * Returns undefined when the text is valid JSON.
 */
function goSyntaxError(s: string): string | undefined {
  let i = 0;
  const at = (pos: number): string => {
    const before = s.slice(0, pos);
    const line = before.split('\n').length;
    const column = pos - before.lastIndexOf('\n');
    return ` (line ${line}, column ${column})`;
  };
  class Stop extends Error {}
  const bad = (context: string): never => {
    if (i >= s.length) throw new Stop(END);
    throw new Stop(`invalid character ${quoteChar(s[i] as string)} ${context}${at(i)}`);
  };
  const skipWs = () => {
    while (i < s.length && WS.has(s[i] as string)) i++;
  };
  const isDigit = (c: string | undefined) => c !== undefined && c >= '0' && c <= '9';

  const literal = (word: string) => {
    for (let k = 1; k < word.length; k++) {
      i++;
      if (s[i] !== word[k]) bad(`in literal ${word} (expecting '${word[k]}')`);
    }
    i++;
  };
  const number = () => {
    if (s[i] === '-') {
      i++;
      if (!isDigit(s[i])) bad('in numeric literal');
    }
    if (s[i] === '0') i++;
    else while (isDigit(s[i])) i++;
    if (s[i] === '.') {
      i++;
      if (!isDigit(s[i])) bad('after decimal point in numeric literal');
      while (isDigit(s[i])) i++;
    }
    if (s[i] === 'e' || s[i] === 'E') {
      i++;
      if (s[i] === '+' || s[i] === '-') i++;
      if (!isDigit(s[i])) bad('in exponent of numeric literal');
      while (isDigit(s[i])) i++;
    }
  };
  const str = () => {
    i++;
    for (;;) {
      const c = s[i];
      if (c === undefined) bad('');
      else if (c === '"') { i++; return; }
      else if (c === '\\') {
        i++;
        const e = s[i];
        if (e === 'u') {
          for (let k = 0; k < 4; k++) {
            i++;
            if (!/^[0-9a-fA-F]$/.test(s[i] ?? '')) bad('in \\u hexadecimal character escape');
          }
        } else if (e === undefined || !'"\\/bfnrt'.includes(e)) bad('in string escape code');
        i++;
      } else if (c < ' ') bad('in string literal');
      else i++;
    }
  };
  const value = (): void => {
    skipWs();
    const c = s[i];
    if (c === '{') return object();
    if (c === '[') return array();
    if (c === '"') return str();
    if (c === '-' || isDigit(c)) return number();
    if (c === 't') return literal('true');
    if (c === 'f') return literal('false');
    if (c === 'n') return literal('null');
    bad('looking for beginning of value');
  };
  const object = () => {
    i++;
    skipWs();
    if (s[i] === '}') { i++; return; }
    for (;;) {
      skipWs();
      if (s[i] !== '"') bad('looking for beginning of object key string');
      str();
      skipWs();
      if (s[i] !== ':') bad('after object key');
      i++;
      value();
      skipWs();
      if (s[i] === ',') { i++; continue; }
      if (s[i] === '}') { i++; return; }
      bad('after object key:value pair');
    }
  };
  const array = () => {
    i++;
    skipWs();
    if (s[i] === ']') { i++; return; }
    for (;;) {
      value();
      skipWs();
      if (s[i] === ',') { i++; continue; }
      if (s[i] === ']') { i++; return; }
      bad('after array element');
    }
  };

  try {
    value();
    skipWs();
    if (i < s.length) bad('after top-level value');
    return undefined;
  } catch (err) {
    if (err instanceof Stop) return err.message;
    throw err;
  }
}
