import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ESLint } from 'eslint';
import { repoRoot } from '../helpers/paths.js';

type Violation = (from: string, to: string) => string | undefined;
const { violation } = (await import(pathToFileURL(join(repoRoot, 'scripts', 'lint', 'boundaries.mjs')).href)) as { violation: Violation };

/** Lint `code` as if it were the file at `path` (it need not exist), with the project's config. */
async function lintAs(path: string, code: string): Promise<string[]> {
  const eslint = new ESLint({ cwd: repoRoot });
  const [result] = await eslint.lintText(code, { filePath: join(repoRoot, path) });
  return (result?.messages ?? []).map((m) => `${m.ruleId}: ${m.message}`);
}

test('a planted engine import of an adapter and of node:child_process fails the lint, naming the file and the rule', async () => {
  const messages = await lintAs(
    'src/engine/planted.ts',
    "import { RuncCli } from '../runtime/runc.js';\nimport { spawn } from 'node:child_process';\nexport const x = [RuncCli, spawn];\n",
  );
  assert.equal(messages.length, 2, messages.join('\n'));
  assert.match(messages[0] ?? '', /^berth\/boundaries: engine\/planted\.ts imports runtime\/runc\.ts: engine\/ imports no adapter/);
  assert.match(messages[1] ?? '', /^berth\/boundaries: engine\/ must not use node:child_process/);
});

test('api/ reaches the engine only through api/backend.ts', async () => {
  const planted = "import type { ContainerRecord } from '../../engine/container.js';\nexport type X = ContainerRecord;\n";
  const inRoute = await lintAs('src/api/routes/planted.ts', planted);
  assert.equal(inRoute.length, 1, inRoute.join('\n'));
  assert.match(inRoute[0] ?? '', /api\/routes\/planted\.ts imports engine\/container\.ts: api\/ reaches engine\/ only through its backend interfaces/);
  assert.deepEqual(await lintAs('src/api/backend.ts', planted.replace('../../', '../')), []);
});

test("adapters import engine/ports.ts and each other's index.ts only", async () => {
  const bad = await lintAs(
    'src/network/planted.ts',
    "import type { ContainerRecord } from '../engine/container.js';\nimport { LayerStore } from '../storage/layer-store.js';\nexport const x: [ContainerRecord?, unknown?] = [undefined, LayerStore];\n",
  );
  assert.equal(bad.length, 2, bad.join('\n'));
  const good = await lintAs(
    'src/network/planted.ts',
    "import type { ContainerRecord } from '../engine/ports.js';\nimport { LayerStore } from '../storage/index.js';\nexport const x: [ContainerRecord?, unknown?] = [undefined, LayerStore];\n",
  );
  assert.deepEqual(good, []);
});

test('the boundary table: composition root free, lib and config pure, nobody imports the daemon', () => {
  assert.equal(violation('daemon/daemon.ts', 'runtime/conmon.ts'), undefined);
  assert.equal(violation('cmd/berthd-main.ts', 'daemon/daemon.ts'), undefined);
  assert.match(violation('engine/x.ts', 'daemon/daemon.ts') ?? '', /composition root/);
  assert.match(violation('lib/x.ts', 'engine/ports.ts') ?? '', /lib\/ imports nothing/);
  assert.match(violation('config/x.ts', 'engine/ports.ts') ?? '', /config\/ is pure/);
  assert.equal(violation('engine/containers/lifecycle.ts', 'engine/ports.ts'), undefined);
  assert.equal(violation('restore/restore.ts', 'engine/container-service.ts'), undefined);
  assert.match(violation('restore/restore.ts', 'state/record-store.ts') ?? '', /index\.ts/);
  assert.match(violation('newpart/x.ts', 'lib/errors.ts') ?? '', /not a known part/);
  // Swarm mode: on top of the engine, never the other way.
  assert.equal(violation('cluster/task-container.ts', 'engine/create-options.ts'), undefined);
  assert.match(violation('cluster/agent.ts', 'network/bridge-driver.ts') ?? '', /cluster\/ uses only the engine/);
  assert.match(violation('engine/container-service.ts', 'cluster/swarm.ts') ?? '', /engine\/ imports no adapter/);
});
