/**
 * berthd's command line, parsed as Go's pflag parses dockerd's: `--name value`,
 * `--name=value`, `-H value`, `-Hvalue`, `-H=value`, grouped booleans (`-Dl debug`), bool
 * flags that take a value only after `=` (`--debug=false`), `--` to end flags.
 */
import { ConfigError, configMessages as m } from './messages.js';
import { addFlagValue, DEFAULT_CONFIG_FILE, defaultConfig, OPTIONS, type OptionKind } from './options.js';
import type { ParsedFlags } from './types.js';
import { goFormat, parseGoBool } from './values.js';

type FlagDef = {
  name: string;
  short?: string | undefined;
  kind: OptionKind;
  help: string;
  shownDefault?: string | undefined;
  set: (flags: ParsedFlags, raw: string) => void;
};

const DEFAULTS = defaultConfig();

/** pflag leaves zero values out of the help text. */
function shownDefault(v: unknown): string | undefined {
  if (typeof v === 'string') return v === '' ? undefined : `"${v}"`;
  if (typeof v === 'number') return String(v);
  if (v === true) return 'true';
  if (Array.isArray(v) && v.length > 0) return goFormat(v);
  return undefined;
}

const controlFlag = (
  name: string,
  short: string | undefined,
  help: string,
  set: (f: ParsedFlags, v: boolean) => void,
): FlagDef => ({ name, short, kind: 'bool', help, set: (f, raw) => set(f, parseGoBool(raw)) });

const FLAGS: readonly FlagDef[] = [
  ...OPTIONS.map((o): FlagDef => ({
    name: o.flag,
    short: o.short,
    kind: o.kind,
    help: o.help,
    shownDefault: o.shownDefault ?? shownDefault(DEFAULTS[o.field]),
    set: (f, raw) => {
      f.options[o.key] = addFlagValue(o, f.options[o.key], raw);
    },
  })),
  {
    name: 'config-file', kind: 'string', help: 'Daemon configuration file',
    shownDefault: `"${DEFAULT_CONFIG_FILE}"`,
    set: (f: ParsedFlags, raw: string) => { f.configFile = raw; },
  } satisfies FlagDef,
  controlFlag('validate', undefined, 'Validate daemon configuration and exit', (f, v) => { f.validate = v; }),
  controlFlag('check-restore', undefined,
    'Report which running containers a daemon with this configuration would adopt, then exit',
    (f, v) => { f.checkRestore = v; }),
  controlFlag('version', 'v', 'Print version information and quit', (f, v) => { f.version = v; }),
  controlFlag('help', 'h', 'Print usage', (f, v) => { f.help = v; }),
].sort((a, b) => (a.name < b.name ? -1 : 1));

const BY_NAME = new Map(FLAGS.map((f) => [f.name, f]));
const BY_SHORT = new Map(FLAGS.filter((f) => f.short).map((f) => [f.short as string, f]));

/** How pflag names a flag in "invalid argument" errors. */
const display = (f: FlagDef) => (f.short ? `-${f.short}, --${f.name}` : `--${f.name}`);

function apply(flags: ParsedFlags, def: FlagDef, raw: string): void {
  try {
    def.set(flags, raw);
  } catch (err) {
    if (err instanceof ConfigError) throw new ConfigError(m.invalidArgument(raw, display(def), err.message));
    throw err;
  }
}

export function parseFlags(argv: readonly string[]): ParsedFlags {
  const flags: ParsedFlags = { options: {}, validate: false, checkRestore: false, version: false, help: false };
  const args = [...argv];
  const positional: string[] = [];
  while (args.length > 0) {
    const a = args.shift() as string;
    if (a === '--') {
      positional.push(...args.splice(0));
    } else if (!a.startsWith('-') || a === '-') {
      positional.push(a);
    } else if (a.startsWith('--')) {
      const body = a.slice(2);
      const eq = body.indexOf('=');
      const name = eq < 0 ? body : body.slice(0, eq);
      if (name === '' || name.startsWith('-')) throw new ConfigError(m.badFlagSyntax(a));
      const def = BY_NAME.get(name);
      if (!def) throw new ConfigError(m.unknownFlag(name));
      if (eq >= 0) apply(flags, def, body.slice(eq + 1));
      else if (def.kind === 'bool') apply(flags, def, 'true');
      else if (args.length > 0) apply(flags, def, args.shift() as string);
      else throw new ConfigError(m.needsArgument(name));
    } else {
      let shorthands = a.slice(1);
      while (shorthands.length > 0) {
        const c = shorthands[0] as string;
        const def = BY_SHORT.get(c);
        if (!def) throw new ConfigError(m.unknownShorthand(c, a));
        let value: string;
        if (shorthands.length > 2 && shorthands[1] === '=') {
          value = shorthands.slice(2);
          shorthands = '';
        } else if (def.kind === 'bool') {
          value = 'true';
          shorthands = shorthands.slice(1);
        } else if (shorthands.length > 1) {
          value = shorthands.slice(1);
          shorthands = '';
        } else if (args.length > 0) {
          value = args.shift() as string;
          shorthands = '';
        } else {
          throw new ConfigError(m.shorthandNeedsArgument(c, a));
        }
        apply(flags, def, value);
      }
    }
  }
  if (positional.length > 0) throw new ConfigError(m.noArguments());
  return flags;
}

const TYPE_WORDS: Record<OptionKind, string> = {
  bool: '',
  string: 'string',
  int: 'int',
  strings: 'list',
  stringMap: 'map',
  runtimes: 'runtime',
  ulimits: 'ulimit',
  pools: 'pool-options',
};

/** `berthd --help`, laid out as cobra/pflag lay out dockerd's. */
export function usage(): string {
  const heads = FLAGS.map((f) => {
    const names = f.short ? `  -${f.short}, --${f.name}` : `      --${f.name}`;
    const type = TYPE_WORDS[f.kind];
    return type ? `${names} ${type}` : names;
  });
  const width = Math.max(...heads.map((h) => h.length)) + 3;
  const lines = FLAGS.map((f, i) => {
    const def = f.shownDefault ? ` (default ${f.shownDefault})` : '';
    return `${(heads[i] as string).padEnd(width)}${f.help}${def}`;
  });
  return [
    'Usage:\tberthd [OPTIONS]',
    '',
    'A self-sufficient runtime for containers, speaking the Docker Engine API.',
    '',
    'Options:',
    ...lines,
    '',
  ].join('\n');
}

/** Long names of every flag berthd accepts (for tests and shell completion). */
export const FLAG_NAMES: readonly string[] = FLAGS.map((f) => f.name);
