import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parse } from '../../src/builder/dockerfile/instructions.js';
import { parseDockerfile, DockerfileError } from '../../src/builder/dockerfile/parser.js';
import { processWord, processWords } from '../../src/builder/dockerfile/shell-lex.js';
import { DockerIgnore, globMatch } from '../../src/builder/dockerignore.js';
import { neededStages } from '../../src/builder/build.js';
import { cacheKey } from '../../src/builder/state.js';

const env = (m: Record<string, string>) => (k: string) => m[k];

test('Dockerfile: directives, comments, continuations, JSON and shell forms, flags', () => {
  const df = parse(`# syntax=docker/dockerfile:1
# escape=\`
ARG V=1
FROM busybox:\${V} AS Build
# comment
RUN echo a \`
    # a comment inside a continuation
    b

CMD ["sh", "-c", "x"]
ENTRYPOINT echo hi
COPY --from=build --chown=1:2 a b /dst/
HEALTHCHECK --interval=1s --retries=3 CMD ["true"]
`);
  assert.equal(df.escape, '`');
  assert.deepEqual(df.metaArgs, [{ name: 'V', value: '1' }]);
  assert.equal(df.stages.length, 1);
  const st = df.stages[0];
  assert.equal(st?.name, 'build');
  assert.equal(st?.from.image, 'busybox:${V}');
  const [run, cmd, ep, copy, hc] = st?.steps ?? [];
  assert.deepEqual(run, { line: 6, original: 'RUN echo a     b', kind: 'run', command: { json: false, text: 'echo a     b' } });
  assert.deepEqual(cmd && 'command' in cmd ? cmd.command : undefined, { json: true, words: ['sh', '-c', 'x'] });
  assert.deepEqual(ep && 'command' in ep ? ep.command : undefined, { json: false, text: 'echo hi' });
  assert.deepEqual(copy, { line: 12, original: 'COPY --from=build --chown=1:2 a b /dst/', kind: 'copy', sources: ['a', 'b'], dest: '/dst/', from: 'build', chown: '1:2' });
  assert.deepEqual(hc && 'health' in hc ? hc.health : undefined, { Test: ['CMD', 'true'], Interval: 1e9, Retries: 3 });
});

test('Dockerfile errors carry Docker\'s messages and the line', () => {
  const msg = (text: string) => {
    try {
      parse(text);
    } catch (err) {
      assert.ok(err instanceof DockerfileError);
      return err.message;
    }
    return 'no error';
  };
  assert.equal(msg('FROM a\nFROBNICATE x'), 'dockerfile parse error line 2: unknown instruction: FROBNICATE');
  assert.equal(msg('RUN x'), 'no build stage in current context');
  assert.equal(msg(''), 'the Dockerfile (Dockerfile) cannot be empty');
  assert.equal(msg('# only a comment\n'), 'the Dockerfile (Dockerfile) cannot be empty');
  assert.equal(msg('FROM a b'), 'dockerfile parse error line 1: FROM requires either one or three arguments');
  assert.equal(msg('FROM a\nENV'), 'dockerfile parse error line 2: ENV requires at least one argument');
  assert.equal(msg('FROM a\nWORKDIR'), 'dockerfile parse error line 2: WORKDIR requires exactly one argument');
  assert.equal(msg('FROM a\nCOPY x'), 'dockerfile parse error line 2: COPY requires at least two arguments, but only one was provided. Destination could not be determined.');
  assert.equal(msg('FROM a\nCOPY --bogus=1 x y'), 'dockerfile parse error line 2: Unknown flag: bogus');
  assert.equal(msg('FROM a\nSHELL sh -c'), 'dockerfile parse error line 2: SHELL requires the arguments to be in JSON form');
  assert.equal(msg('FROM a\nONBUILD ONBUILD RUN x'), 'dockerfile parse error line 2: Chaining ONBUILD via `ONBUILD ONBUILD` isn\'t allowed');
  assert.equal(msg('FROM a\nONBUILD FROM b'), "dockerfile parse error line 2: FROM isn't allowed as an ONBUILD trigger");
  assert.match(msg('FROM a\nRUN --mount=type=cache,target=/x true'), /^the --mount option requires BuildKit/);
  assert.match(msg('FROM a\nCOPY --link a b'), /^the --link option requires BuildKit/);
  assert.match(msg('FROM a\nRUN <<EOF\necho\nEOF'), /line 2: RUN with a heredoc \(<<\) requires BuildKit/);
  assert.equal(msg('# escape=x\nFROM a'), "invalid ESCAPE 'x'. Must be ` or \\");
  assert.equal(msg('FROM a AS 1x'), 'dockerfile parse error line 1: invalid name for build stage: "1x", name can\'t start with a number or contain symbols');
});

test('ENV and LABEL: key=value pairs with quotes, and the legacy one-pair form', () => {
  const st = parse('FROM a\nENV A=1 B="two words" C=\'x y\'\nENV LEGACY some value here\nLABEL "k"="v"\n').stages[0];
  const [e1, e2, l] = st?.steps ?? [];
  assert.deepEqual(e1 && 'pairs' in e1 ? e1.pairs : [], [['A', '1'], ['B', '"two words"'], ['C', "'x y'"]]);
  assert.deepEqual(e2 && 'pairs' in e2 ? e2.pairs : [], [['LEGACY', 'some value here']]);
  assert.deepEqual(l && 'pairs' in l ? l.pairs : [], [['"k"', '"v"']]);
  // The quotes go at substitution.
  assert.equal(processWord('"two words"', env({})), 'two words');
});

test('substitution: $VAR, ${VAR}, defaults and alternatives, quotes and escapes', () => {
  const e = env({ A: 'a', EMPTY: '', SP: 'x y' });
  assert.equal(processWord('$A-${A}', e), 'a-a');
  assert.equal(processWord('${NOPE:-def} ${EMPTY:-def} ${EMPTY-def} ${A:-def}', e), 'def def  a');
  assert.equal(processWord('${A:+alt} ${NOPE:+alt} ${EMPTY+alt} ${EMPTY:+alt}', e), 'alt  alt ');
  assert.equal(processWord("'$A' \"$A\" \\$A", e), '$A a $A');
  assert.equal(processWord('"\\"q\\" \\x"', e), '"q" \\x');
  assert.equal(processWord('$ $1 ${A}b', e), '$  ab');
  assert.equal(processWord('`$A', e, '`'), '$A');
  assert.deepEqual(processWords('80 $SP "a b"', e), ['80', 'x', 'y', 'a b']);
  assert.throws(() => processWord('${NOPE:?must be set}', e), /NOPE: must be set/);
  assert.throws(() => processWord("'open", e), /matching single-quote/);
});

test('substitution is total: any word either expands or fails with a lexer error, never crashes (property)', () => {
  const alphabet = ['$', '{', '}', ':', '-', '+', '?', '"', "'", '\\', 'A', 'b', ' ', '_', '1'];
  let seed = 42;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  for (let i = 0; i < 3000; i++) {
    const w = Array.from({ length: Math.floor(rnd() * 12) }, () => alphabet[Math.floor(rnd() * alphabet.length)]).join('');
    try {
      const out = processWord(w, env({ A: 'v' }));
      assert.equal(typeof out, 'string');
      // Without quotes, escapes or $, a word is itself.
      if (!/[$"'\\]/.test(w)) assert.equal(out, w);
    } catch (err) {
      assert.equal((err as Error).constructor.name, 'ShellLexError', `${w}: ${String(err)}`);
    }
  }
});

test('the parser never crashes on arbitrary text: a result or a DockerfileError (property)', () => {
  const pieces = ['FROM a', 'RUN x', '\\\n', '\n', '# c', 'COPY', ' --from=x', ' a b', 'ENV', ' k=v', '"', "'", 'ONBUILD ', 'HEALTHCHECK ', 'CMD ["x"]', '[', 'ARG', ' X', '\r\n', '\t'];
  let seed = 7;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  for (let i = 0; i < 3000; i++) {
    const text = Array.from({ length: Math.floor(rnd() * 10) }, () => pieces[Math.floor(rnd() * pieces.length)]).join('');
    try {
      const df = parse(text);
      assert.ok(df.stages.length > 0);
    } catch (err) {
      assert.ok(err instanceof DockerfileError, `${JSON.stringify(text)}: ${String(err)}`);
    }
  }
});

test('.dockerignore: Docker\'s matching (*, ?, **, ! exceptions, leading /, parents)', () => {
  const ig = DockerIgnore.parse('# comment\n*.log\n!keep.log\n/build\n**/node_modules\ndocs/**/*.md\n!docs/README.md\ntmp?\n');
  const cases: [string, boolean][] = [
    ['a.log', true],
    ['keep.log', false],
    ['sub/a.log', false],
    ['build', true],
    ['build/out/x', true],
    ['src/build', false],
    ['node_modules/x', true],
    ['a/b/node_modules/y/z', true],
    ['docs/x.md', true],
    ['docs/a/b/x.md', true],
    ['docs/README.md', false],
    ['tmp1', true],
    ['tmp12', false],
    ['src/main.ts', false],
  ];
  for (const [p, want] of cases) assert.equal(ig.excludes(p), want, p);
  assert.ok(globMatch('*.txt', 'a.txt'));
  assert.ok(!globMatch('*.txt', 'd/a.txt'));
  assert.ok(globMatch('d/[ab].txt', 'd/b.txt'));
});

test('--target: the stages a target needs, through FROM and COPY --from; the others are skipped', () => {
  const df = parse('FROM a AS one\nFROM b AS two\nFROM one AS three\nCOPY --from=two x y\nFROM c AS four\nFROM c AS five\nCOPY --from=0 x y\n');
  assert.deepEqual(neededStages(df, 'three').map((s) => s.name), ['one', 'two', 'three']);
  assert.deepEqual(neededStages(df, undefined).map((s) => s.name), ['one', 'five']);
  assert.deepEqual(neededStages(df, 'four').map((s) => s.name), ['four']);
  assert.throws(() => neededStages(df, 'six'), /failed to reach build target six in Dockerfile/);
});

test('the cache key ignores how empty values are spelled and the order of map keys', () => {
  assert.equal(cacheKey({ Cmd: ['a'], Env: [], Labels: null }), cacheKey({ Cmd: ['a'], Labels: {} }));
  assert.equal(cacheKey({ Labels: { a: '1', b: '2' } }), cacheKey({ Labels: { b: '2', a: '1' } }));
  assert.notEqual(cacheKey({ Cmd: ['a'] }), cacheKey({ Cmd: ['b'] }));
  assert.notEqual(cacheKey({ Env: ['A=1'] }), cacheKey({ Env: ['A=2'] }));
});

test('raw instructions keep their line and their flags', () => {
  const p = parseDockerfile('FROM a\n\n  copy --chown="1:1" x y\n');
  assert.equal(p.instructions[1]?.line, 3);
  assert.deepEqual(p.instructions[1]?.flags, [{ name: 'chown', value: '1:1' }]);
  assert.equal(p.instructions[1]?.keyword, 'copy');
});
