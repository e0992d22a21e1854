// The import-boundary rule: which part of src/ may import which, as ../shared/STYLE.md draws
// it. Dependencies point one way: cmd → daemon → everything; api → engine only through
// api/backend.ts; engine → its ports and lib; adapters → engine/ports.ts, lib and other
// adapters' public index.ts. A plain ESLint rule (no type information needed), so that the
// lint step stays fast.
import { dirname, relative, resolve, sep } from 'node:path';

/** Folders under src/ that implement the engine's ports. */
export const ADAPTERS = ['runtime', 'storage', 'network', 'logs', 'state', 'images', 'volumes', 'builder'];

/** Built-in modules the engine must not use: it talks to the world through its ports. */
const ENGINE_FORBIDDEN_BUILTINS = ['http', 'https', 'http2', 'net', 'dgram', 'child_process', 'cluster'];

/**
 * Why `from` (a path under src/, with `/`) may not import `to` (same form), or undefined if it
 * may. Pure, so that it can be tested on its own.
 */
export function violation(from, to) {
  const [fromTop] = from.split('/');
  const [toTop] = to.split('/');
  if (fromTop === toTop) return undefined;
  if (toTop === 'cmd' || toTop === 'daemon') {
    return fromTop === 'cmd' ? undefined : `${fromTop}/ may not import the composition root (${toTop}/)`;
  }
  switch (fromTop) {
    case 'cmd':
    case 'daemon':
      return undefined;
    case 'lib':
      return `lib/ imports nothing of berth but lib/ (found ${toTop}/)`;
    case 'config':
      return toTop === 'lib' ? undefined : `config/ is pure: it imports only lib/ (found ${toTop}/)`;
    case 'engine':
      return toTop === 'lib' ? undefined : `engine/ imports no adapter or outer layer (found ${toTop}/): go through a port in engine/ports.ts`;
    case 'api':
      if (toTop === 'lib' || toTop === 'config') return undefined;
      if (from === 'api/backend.ts') return undefined;
      return `api/ reaches ${toTop}/ only through its backend interfaces (api/backend.ts)`;
    case 'cluster':
      // Swarm mode sits on top of the engine's public surface; the engine never imports it.
      if (toTop === 'lib' || toTop === 'engine') return undefined;
      return `cluster/ uses only the engine and lib/ (found ${toTop}/): the daemon hands it the rest`;
    case 'restore':
      // The restore pass is part of the daemon's start-up: it drives the engine's public side.
      if (toTop === 'lib' || toTop === 'engine') return undefined;
      return isPublicEntry(to) ? undefined : `restore/ uses ${toTop}/ only through its index.ts`;
    default:
      if (!ADAPTERS.includes(fromTop)) return `${fromTop}/ is not a known part of src/: add it to scripts/lint/boundaries.mjs`;
      if (toTop === 'lib') return undefined;
      if (toTop === 'engine') return to === 'engine/ports.ts' ? undefined : `adapters import the engine only through engine/ports.ts (found ${to})`;
      if (toTop === 'api' || toTop === 'config' || toTop === 'restore') return `adapters do not import ${toTop}/`;
      return isPublicEntry(to) ? undefined : `adapters use each other only through their index.ts (found ${to})`;
  }
}

function isPublicEntry(to) {
  const parts = to.split('/');
  return parts.length === 2 && parts[1] === 'index.ts';
}

/** The module an import names, as a path under src/ with `/`, or undefined if outside src/. */
function targetUnderSrc(srcRoot, file, spec) {
  if (!spec.startsWith('.')) return undefined;
  const abs = resolve(dirname(file), spec).replace(/\.c?js$/, (m) => (m === '.cjs' ? '.cts' : '.ts'));
  const rel = relative(srcRoot, abs);
  if (rel.startsWith('..')) return undefined;
  return rel.split(sep).join('/');
}

/** @type {import('eslint').Rule.RuleModule} */
const rule = {
  meta: {
    type: 'problem',
    docs: { description: 'Hold the direction of dependencies between the parts of src/' },
    schema: [{ type: 'object', properties: { srcRoot: { type: 'string' } }, additionalProperties: false }],
  },
  create(context) {
    const srcRoot = context.options[0]?.srcRoot ?? resolve(context.cwd, 'src');
    const file = context.filename;
    const fromRel = relative(srcRoot, file).split(sep).join('/');
    if (fromRel.startsWith('..')) return {};
    const check = (node, spec) => {
      if (typeof spec !== 'string') return;
      if (fromRel.startsWith('engine/')) {
        const bare = spec.replace(/^node:/, '').split('/')[0];
        if ((spec.startsWith('node:') || !spec.startsWith('.')) && ENGINE_FORBIDDEN_BUILTINS.includes(bare)) {
          context.report({ node, message: `engine/ must not use node:${bare}: it talks to the world through its ports` });
          return;
        }
      }
      const to = targetUnderSrc(srcRoot, file, spec);
      if (!to) return;
      const why = violation(fromRel, to);
      if (why) context.report({ node, message: `${fromRel} imports ${to}: ${why}` });
    };
    return {
      ImportDeclaration: (node) => check(node.source, node.source.value),
      ExportNamedDeclaration: (node) => node.source && check(node.source, node.source.value),
      ExportAllDeclaration: (node) => check(node.source, node.source.value),
      ImportExpression: (node) => node.source.type === 'Literal' && check(node.source, node.source.value),
      TSImportType: (node) => {
        const arg = node.argument?.literal ?? node.argument;
        if (arg && arg.type === 'Literal') check(arg, arg.value);
      },
    };
  },
};

export default { rules: { boundaries: rule } };
