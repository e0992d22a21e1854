// Property-based tests (fast-check) of the parsers bad input reaches first: daemon.json and
// flags, image references, the filters query parameter, the stdcopy framing and the tar
// extractor. Each property holds for every input fast-check makes; the run's seed is printed
// (PROP_SEED=<seed> runs it again) and a failure names the smallest input it found.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, readdir, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import fc from 'fast-check';
import tar from 'tar-stream';
import { BerthError } from '../../src/lib/errors.js';
import { loadConfig, parseConfigFileText, parseFlags, configToJson, OPTIONS } from '../../src/config/index.js';
import { parseReference, familiarString, fullString } from '../../src/images/reference.js';
import { parseFilters } from '../../src/api/wire/filters.js';
import { frame, StdcopyDecoder, type StdStream } from '../../src/api/stdcopy.js';
import { extractTar } from '../../src/storage/tar-extract.js';

const seed = process.env['PROP_SEED'] ? Number(process.env['PROP_SEED']) : Math.floor(Math.random() * 2 ** 31);
console.log(`property seed ${seed} (reproduce: PROP_SEED=${seed})`);
fc.configureGlobal({ seed, numRuns: 300 });

/** Refusals are typed errors with a message; anything else thrown is a bug. */
function refusedProperly(err: unknown): boolean {
  return err instanceof BerthError && err.message.length > 0 && err.kind !== 'System';
}

// JSON values that look like what reaches daemon.json: known keys, odd values.
const jsonValue = fc.oneof(
  fc.boolean(), fc.integer(), fc.double(), fc.string(), fc.constant(null),
  fc.array(fc.oneof(fc.string(), fc.integer(), fc.boolean())),
  fc.dictionary(fc.string(), fc.oneof(fc.string(), fc.integer(), fc.boolean())),
);
const configKey = fc.oneof(fc.constantFrom(...OPTIONS.map((o) => o.key)), fc.string());

test('daemon.json: any text is an object or a ConfigError naming the problem, never a crash', () => {
  fc.assert(
    fc.property(fc.oneof(fc.string(), fc.json(), fc.jsonValue().map((v) => JSON.stringify(v))), (text) => {
      try {
        const v = parseConfigFileText(text, '/etc/berth/daemon.json');
        assert.equal(typeof v, 'object');
      } catch (err) {
        assert.ok(refusedProperly(err), String(err));
        assert.match((err as Error).message, /daemon\.json/);
      }
    }),
  );
});

test('daemon.json: any object of known keys and odd values loads or is refused with a ConfigError; what loads writes back as JSON that loads the same', () => {
  fc.assert(
    fc.property(fc.dictionary(configKey, jsonValue, { maxKeys: 6 }), (obj) => {
      const text = JSON.stringify(obj);
      let loaded;
      try {
        loaded = loadConfig({ flags: parseFlags([]), file: '/d.json', fileText: text });
      } catch (err) {
        assert.ok(refusedProperly(err), `${text}: ${String(err)}`);
        return;
      }
      const again = loadConfig({ flags: parseFlags([]), file: '/d.json', fileText: JSON.stringify(configToJson(loaded.config)) });
      assert.deepEqual(again.config, loaded.config, text);
    }),
  );
});

test('flags: any argv parses or is refused with a ConfigError', () => {
  const flag = fc.oneof(fc.constantFrom(...OPTIONS.flatMap((o) => (o.flag ? [`--${o.flag}`] : []))), fc.string());
  fc.assert(
    fc.property(fc.array(fc.oneof(flag, fc.string(), fc.constantFrom('-H', '-G', '--tls=false', '--', '-', '=x'))), (argv) => {
      try {
        parseFlags(argv);
      } catch (err) {
        assert.ok(refusedProperly(err), `${JSON.stringify(argv)}: ${String(err)}`);
      }
    }),
  );
});

const component = fc.stringMatching(/^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+){0,2}$/).filter((s) => s.length <= 30);
const domainPart = fc.stringMatching(/^[a-z0-9](?:[a-z0-9-]{0,8}[a-z0-9])?$/);
const ref = fc.record({
  domain: fc.option(fc.oneof(fc.tuple(domainPart, domainPart).map(([a, b]) => `${a}.${b}`), fc.constant('localhost'), fc.tuple(domainPart, fc.integer({ min: 1, max: 65535 })).map(([a, p]) => `${a}:${p}`)), { nil: undefined }),
  path: fc.array(component, { minLength: 1, maxLength: 3 }),
  tag: fc.option(fc.stringMatching(/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}$/), { nil: undefined }),
  digest: fc.option(fc.stringMatching(/^[0-9a-f]{64}$/).map((h) => `sha256:${h}`), { nil: undefined }),
});

test('image references: any string parses or is refused as Docker refuses it (InvalidParameter), never a crash', () => {
  fc.assert(
    fc.property(fc.oneof(fc.string(), fc.string({ unit: 'binary' }), fc.stringMatching(/^[a-zA-Z0-9:/@._-]{0,80}$/)), (s) => {
      try {
        const r = parseReference(s);
        assert.ok(r.domain.length > 0 && r.path.length > 0);
      } catch (err) {
        assert.ok(err instanceof BerthError && err.kind === 'InvalidParameter', `${JSON.stringify(s)}: ${String(err)}`);
      }
    }),
  );
});

test('image references: a well-formed reference round-trips through its familiar and full spellings', () => {
  fc.assert(
    fc.property(ref, (x) => {
      // A first component with a dot or port would be taken for a registry: skip those paths.
      fc.pre(x.domain !== undefined || !/[.:]|^localhost$/.test(x.path[0] as string));
      const s = `${x.domain ? `${x.domain}/` : ''}${x.path.join('/')}${x.tag ? `:${x.tag}` : ''}${x.digest ? `@${x.digest}` : ''}`;
      const r = parseReference(s);
      assert.deepEqual(parseReference(familiarString(r)), r, s);
      assert.deepEqual(parseReference(fullString(r)), r, s);
      if (x.tag) assert.equal(r.tag, x.tag);
      if (x.digest) assert.equal(r.digest, x.digest);
    }),
  );
});

test('filters: any query text is a map of allowed names or an InvalidParameter; both JSON spellings give the same map', () => {
  const allowed = ['status', 'label', 'name', 'id'];
  fc.assert(
    fc.property(fc.oneof(fc.string(), fc.json()), (raw) => {
      try {
        const m = parseFilters(raw, allowed);
        for (const k of m.keys()) assert.ok(allowed.includes(k));
      } catch (err) {
        assert.ok(err instanceof BerthError && err.kind === 'InvalidParameter', `${raw}: ${String(err)}`);
      }
    }),
  );
  fc.assert(
    fc.property(fc.dictionary(fc.constantFrom(...allowed), fc.uniqueArray(fc.string({ minLength: 1 }), { maxLength: 4 })), (f) => {
      const asList = parseFilters(JSON.stringify(f), allowed);
      const asSet = parseFilters(JSON.stringify(Object.fromEntries(Object.entries(f).map(([k, vs]) => [k, Object.fromEntries(vs.map((v) => [v, true]))]))), allowed);
      // Values are a set to Docker: their order is not kept by an object's keys.
      const sorted = (m: Map<string, string[]>) => new Map([...m].map(([k, v]) => [k, [...v].sort()]));
      assert.deepEqual(asList, new Map(Object.entries(f)));
      assert.deepEqual(sorted(asSet), sorted(asList));
    }),
  );
});

test('stdcopy: frames cut at any chunk boundaries come back whole and in order, per stream', () => {
  const payload = fc.oneof(fc.uint8Array({ maxLength: 64 }), fc.uint8Array({ minLength: 1000, maxLength: 5000 }));
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.constantFrom<StdStream>(0, 1, 2, 3), payload), { maxLength: 20 }), fc.array(fc.integer({ min: 1, max: 700 }), { minLength: 1, maxLength: 50 }), (frames, cuts) => {
      const bytes = Buffer.concat(frames.map(([s, p]) => frame(s, Buffer.from(p))));
      const dec = new StdcopyDecoder();
      const got: { stream: number; data: Buffer }[] = [];
      let off = 0;
      for (let i = 0; off < bytes.length; i++) {
        const n = cuts[i % cuts.length] as number;
        got.push(...dec.push(bytes.subarray(off, off + n)));
        off += n;
      }
      assert.equal(dec.pending, 0);
      // Empty payloads are frames of their own; a payload is never merged with its neighbour.
      assert.deepEqual(got.map((g) => [g.stream, Buffer.from(g.data).toString('hex')]), frames.map(([s, p]) => [s, Buffer.from(p).toString('hex')]));
    }),
  );
});

test('stdcopy: any byte stream decodes to frames or is refused as an unknown stream, never a crash', () => {
  fc.assert(
    fc.property(fc.array(fc.uint8Array({ maxLength: 40 }), { maxLength: 10 }), (chunks) => {
      const dec = new StdcopyDecoder();
      try {
        for (const c of chunks) for (const f of dec.push(Buffer.from(c))) assert.ok(f.stream <= 3);
      } catch (err) {
        assert.ok(err instanceof BerthError && /Unrecognized input header/.test(err.message), String(err));
      }
    }),
  );
});

type TarEntry = { name: string; type: 'file' | 'directory' | 'symlink' | 'link'; linkname?: string; data?: string };

async function tarOf(entries: TarEntry[]): Promise<Buffer> {
  const p = tar.pack();
  for (const { data, ...h } of entries) {
    if (h.type === 'file') p.entry({ ...h, size: Buffer.byteLength(data ?? '') }, data ?? '');
    else p.entry(h);
  }
  p.finalize();
  const chunks: Buffer[] = [];
  for await (const c of p) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

test('tar extractor: whatever the names and links of a layer, nothing is written outside its target', async () => {
  const base = await mkdtemp(join(tmpdir(), 'bt-prop-tar-'));
  try {
    const outside = join(base, 'outside');
    await mkdir(outside);
    // Names and link targets built from pieces that climb out, start at the root, or name
    // the sibling directory by its absolute path.
    const piece = fc.constantFrom('a', 'b', '..', '.', '', 'c.txt', outside, '/', 'outside', '../outside', 'x/../..');
    const path = fc.array(piece, { minLength: 1, maxLength: 4 }).map((ps) => ps.join('/'));
    const entry: fc.Arbitrary<TarEntry> = fc.oneof(
      fc.record({ name: path, type: fc.constant('file' as const), data: fc.constantFrom('x', '') }),
      fc.record({ name: path, type: fc.constant('directory' as const) }),
      fc.record({ name: path, type: fc.constant('symlink' as const), linkname: path }),
      fc.record({ name: path, type: fc.constant('link' as const), linkname: path }),
    );
    let n = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(entry, { minLength: 1, maxLength: 8 }), async (entries) => {
        const root = join(base, `root${n++}`);
        await mkdir(root);
        try {
          await extractTar(Readable.from([await tarOf(entries)]), root);
        } catch (err) {
          assert.ok(err instanceof BerthError, `${JSON.stringify(entries)}: ${String(err)}`);
        }
        assert.deepEqual(await readdir(outside), [], `wrote outside through ${JSON.stringify(entries)}`);
        assert.deepEqual((await readdir(base)).filter((x) => !x.startsWith('root') && x !== 'outside'), [], `wrote beside the target through ${JSON.stringify(entries)}`);
        assert.ok(!existsSync('/c.txt') && !existsSync('/a/c.txt'), 'wrote at the host root');
        await rm(root, { recursive: true, force: true });
      }),
      { numRuns: 200 },
    );
  } finally {
    await rm(base, { recursive: true, force: true });
  }
});
