/**
 * Variable substitution in Dockerfile words, as the classic builder does it (not a shell: no
 * globbing, no command substitution). Quotes are removed, `$VAR`, `${VAR}`, `${VAR:-word}`,
 * `${VAR-word}`, `${VAR:+word}`, `${VAR+word}`, `${VAR:?msg}` and `${VAR?msg}` are expanded,
 * the escape character keeps the next character literal. Pure.
 */

export type Lookup = (name: string) => string | undefined;

export class ShellLexError extends Error {}

/** One word: the result of substitution, with quotes removed. */
export function processWord(word: string, env: Lookup, escape = '\\'): string {
  return new Lexer(word, env, escape).run().join('');
}

/**
 * Several words: substitution, then a split on whitespace outside quotes (EXPOSE, the
 * whitespace form of COPY / ADD / VOLUME arguments after substitution).
 */
export function processWords(word: string, env: Lookup, escape = '\\'): string[] {
  return new Lexer(word, env, escape, true).run();
}

class Lexer {
  #s: string;
  #i = 0;
  readonly #env: Lookup;
  readonly #esc: string;
  readonly #split: boolean;

  constructor(s: string, env: Lookup, esc: string, split = false) {
    this.#s = s;
    this.#env = env;
    this.#esc = esc;
    this.#split = split;
  }

  run(): string[] {
    const words: string[] = [];
    let cur = '';
    let inWord = false;
    while (this.#i < this.#s.length) {
      const ch = this.#s[this.#i] as string;
      if (this.#split && /\s/.test(ch)) {
        if (inWord) words.push(cur);
        cur = '';
        inWord = false;
        this.#i++;
        continue;
      }
      inWord = true;
      if (ch === "'") {
        cur += this.#single();
      } else if (ch === '"') {
        cur += this.#double();
      } else if (ch === '$') {
        const v = this.#dollar();
        if (this.#split) {
          // An unquoted expansion is split too.
          const parts = v.split(/\s+/);
          for (let k = 0; k < parts.length; k++) {
            if (k > 0) {
              if (cur !== '') words.push(cur);
              cur = '';
            }
            cur += parts[k] as string;
          }
        } else cur += v;
      } else if (ch === this.#esc) {
        this.#i++;
        if (this.#i < this.#s.length) cur += this.#s[this.#i++] as string;
      } else {
        cur += ch;
        this.#i++;
      }
    }
    if (inWord || !this.#split) words.push(cur);
    return this.#split ? words.filter((w) => w !== '') : words;
  }

  #single(): string {
    this.#i++;
    const end = this.#s.indexOf("'", this.#i);
    if (end < 0) throw new ShellLexError('unexpected end of statement while looking for matching single-quote');
    const out = this.#s.slice(this.#i, end);
    this.#i = end + 1;
    return out;
  }

  #double(): string {
    this.#i++;
    let out = '';
    for (;;) {
      if (this.#i >= this.#s.length) throw new ShellLexError('unexpected end of statement while looking for matching double-quote');
      const ch = this.#s[this.#i] as string;
      if (ch === '"') {
        this.#i++;
        return out;
      }
      if (ch === '$') {
        out += this.#dollar();
        continue;
      }
      if (ch === this.#esc) {
        const next = this.#s[this.#i + 1];
        // Only these can be escaped inside double quotes; other escapes stay as written.
        if (next === '"' || next === '$' || next === this.#esc) {
          out += next;
          this.#i += 2;
          continue;
        }
      }
      out += ch;
      this.#i++;
    }
  }

  #dollar(): string {
    this.#i++;
    const ch = this.#s[this.#i];
    if (ch === '{') {
      this.#i++;
      return this.#braced();
    }
    const name = this.#name();
    if (name === '') return '$';
    return this.#env(name) ?? '';
  }

  #name(): string {
    const m = /^(?:[A-Za-z_][A-Za-z0-9_]*|[0-9]+)/.exec(this.#s.slice(this.#i));
    if (!m) return '';
    this.#i += m[0].length;
    return m[0];
  }

  #braced(): string {
    const name = this.#name();
    if (name === '') throw new ShellLexError(`missing ':' in substitution`);
    const rest = this.#s.slice(this.#i);
    if (rest.startsWith('}')) {
      this.#i++;
      return this.#env(name) ?? '';
    }
    const op = /^(:?[-+?])/.exec(rest);
    if (!op) throw new ShellLexError(`unsupported modifier (${rest[0] ?? ''}) in substitution`);
    this.#i += (op[1] as string).length;
    const word = this.#wordUntilBrace();
    const value = this.#env(name);
    const colon = (op[1] as string).startsWith(':');
    const set = colon ? value !== undefined && value !== '' : value !== undefined;
    switch ((op[1] as string).slice(-1)) {
      case '-':
        return set ? (value as string) : word;
      case '+':
        return set ? word : '';
      default:
        if (!set) throw new ShellLexError(`${name}: ${word === '' ? 'is not allowed to be unset' : word}`);
        return value as string;
    }
  }

  /** The word of a `${VAR:-word}` up to its closing brace, itself substituted. */
  #wordUntilBrace(): string {
    let out = '';
    for (;;) {
      if (this.#i >= this.#s.length) throw new ShellLexError("syntax error: missing '}'");
      const ch = this.#s[this.#i] as string;
      if (ch === '}') {
        this.#i++;
        return out;
      }
      if (ch === "'") out += this.#single();
      else if (ch === '"') out += this.#double();
      else if (ch === '$') out += this.#dollar();
      else if (ch === this.#esc) {
        this.#i++;
        if (this.#i < this.#s.length) out += this.#s[this.#i++] as string;
      } else {
        out += ch;
        this.#i++;
      }
    }
  }
}
