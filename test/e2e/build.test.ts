import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync, symlinkSync, rmSync, readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import Docker from 'dockerode';
import { daemonForFile, type TestDaemon } from '../helpers/daemon.js';
import { testTmpDir } from '../helpers/paths.js';
import { makeContext } from '../helpers/build-context.js';
import { makeTar } from '../helpers/tars.js';

// `docker build` through the classic builder API (the CLI has no buildx here): Dockerfiles
// built by berthd, RUN on real containers, the cache, multi-stage, failures, compose and dockerode.
let d: TestDaemon;
daemonForFile((x) => {
  d = x;
});

let scratch: string;
let server: ChildProcess | undefined;
let port = 0;

// ADD's URL is served by a process of its own: the test's own loop is blocked while the CLI runs.
before(async () => {
  scratch = testTmpDir('bt-build-');
  const www = join(scratch, 'www');
  mkdirSync(www);
  writeFileSync(join(www, 'remote.txt'), 'fetched over http\n');
  server = spawn('python3', ['-c', 'import http.server,socketserver,sys\ns=socketserver.TCPServer(("127.0.0.1",0),http.server.SimpleHTTPRequestHandler)\nprint(s.server_address[1],flush=True)\ns.serve_forever()'], { cwd: www, stdio: ['ignore', 'pipe', 'ignore'] });
  port = await new Promise<number>((resolve, reject) => {
    server?.stdout?.once('data', (c: Buffer) => resolve(Number(c.toString().trim())));
    server?.once('exit', () => reject(new Error('the http server did not start')));
  });
});

after(() => {
  if (server?.pid) process.kill(server.pid, 'SIGKILL');
  rmSync(scratch, { recursive: true, force: true });
});

const context = (name: string, files: Record<string, string>) => makeContext(scratch, name, files);

function build(args: string[], opts: { input?: string } = {}) {
  return d.docker(['build', ...args], { timeoutMs: 180_000, ...opts });
}

const inspect = (ref: string) => JSON.parse(d.ok(['image', 'inspect', ref]))[0];

const EVERYTHING = (p: number) => `# syntax=docker/dockerfile:1
# escape=\\
ARG BASE=busybox
FROM \${BASE} AS base
ARG GREETING=hello
ENV APP_HOME=/srv/app \\
    MODE=\${GREETING:-none}
# a comment inside the file
LABEL org.example.title="berth test" stage=\${GREETING:+set}
WORKDIR $APP_HOME
COPY app/ ./
COPY --chown=1000:1000 --chmod=640 app/a.txt /owned/a.txt
COPY *.log /logs/
COPY . /ctx/
ADD data.tar /unpacked/
ADD http://127.0.0.1:${p}/remote.txt /remote/
RUN echo "built $GREETING in $(pwd) as $(id -u)" > /built.txt \\
 && echo 'app:x:1234:1234::/home/app:/bin/sh' >> /etc/passwd
USER app
EXPOSE 8080 9090/udp
VOLUME /data
STOPSIGNAL SIGUSR1
HEALTHCHECK --interval=5s --retries=2 CMD true
SHELL ["/bin/sh", "-c"]
ONBUILD RUN echo onbuild-ran > /tmp/onbuild
MAINTAINER someone@example.com
ENTRYPOINT ["/bin/sh", "-c"]
CMD ["cat /built.txt"]
`;

test('a Dockerfile using every instruction: the image shows each one (files, env, workdir, user, labels, ports, healthcheck, entrypoint and cmd), build args, .dockerignore, no build container left', () => {
  const dir = context('every', {
    'app/a.txt': 'file a\n',
    'app/sub/b.txt': 'file b\n',
    'keep.log': 'kept\n',
    'skip.log': 'skipped\n',
    'secret/key': 'never in the image\n',
    '.dockerignore': '# ignore these\n*.log\n!keep.log\n/secret\n',
    Dockerfile: EVERYTHING(port),
  });
  mkdirSync(join(dir, 'tarsrc/x'), { recursive: true });
  writeFileSync(join(dir, 'tarsrc/x/y.txt'), 'from the archive\n');
  assert.equal(spawnSync('tar', ['-C', join(dir, 'tarsrc'), '-cf', join(dir, 'data.tar'), 'x']).status, 0);
  symlinkSync('app/a.txt', join(dir, 'link'));
  symlinkSync('/etc/shadow', join(dir, 'hostlink'));

  const r = build(['-t', 'every:1', '-t', 'every:latest', '--build-arg', 'GREETING=hi', '--build-arg', 'UNUSED=1', '--label', 'via=cli', dir]);
  assert.equal(r.code, 0, r.stderr + r.stdout);
  assert.match(r.stdout, /Step 1\/\d+ : ARG BASE=busybox/);
  assert.match(r.stdout, / ---> Running in [0-9a-f]{12}\n/);
  assert.match(r.stdout, /Removing intermediate container [0-9a-f]{12}/);
  assert.match(r.stdout, /\[Warning\] One or more build-args \[UNUSED\] were not consumed/);
  assert.match(r.stdout, /Successfully built [0-9a-f]{12}\nSuccessfully tagged every:1\nSuccessfully tagged every:latest\n/);

  assert.equal(d.ok(['run', '--rm', 'every:1']).trim(), 'built hi in /srv/app as 0');
  const files = d.ok([
    'run', '--rm', '--entrypoint', 'sh', 'every:1', '-c',
    'cat a.txt sub/b.txt; stat -c "%u:%g %a" /owned/a.txt; ls /logs; cat /unpacked/x/y.txt; stat -c %a /remote/remote.txt; ls -A /ctx; readlink /ctx/link; readlink /ctx/hostlink; id -u; pwd',
  ]);
  assert.equal(
    files,
    'file a\nfile b\n1000:1000 640\nkeep.log\nfrom the archive\n600\n.dockerignore\nDockerfile\napp\ndata.tar\nhostlink\nkeep.log\nlink\ntarsrc\napp/a.txt\n/etc/shadow\n1234\n/srv/app\n',
  );
  // A download is 0600, as with dockerd: root reads it.
  assert.equal(d.ok(['run', '--rm', '-u', '0', '--entrypoint', 'cat', 'every:1', '/remote/remote.txt']), 'fetched over http\n');
  const i = inspect('every:1');
  assert.ok(i.Config.Env.includes('APP_HOME=/srv/app') && i.Config.Env.includes('MODE=hi'), JSON.stringify(i.Config.Env));
  assert.ok(!i.Config.Env.some((e: string) => e.startsWith('GREETING=')), 'build args are not kept in the image');
  assert.equal(i.Config.WorkingDir, '/srv/app');
  assert.equal(i.Config.User, 'app');
  assert.deepEqual(i.Config.Labels, { 'org.example.title': 'berth test', stage: 'set', via: 'cli' });
  assert.deepEqual(Object.keys(i.Config.ExposedPorts).sort(), ['8080/tcp', '9090/udp']);
  assert.deepEqual(Object.keys(i.Config.Volumes), ['/data']);
  assert.equal(i.Config.StopSignal, 'SIGUSR1');
  assert.deepEqual(i.Config.Healthcheck, { Test: ['CMD-SHELL', 'true'], Interval: 5e9, Retries: 2 });
  assert.deepEqual(i.Config.Entrypoint, ['/bin/sh', '-c']);
  assert.deepEqual(i.Config.Cmd, ['cat /built.txt']);
  assert.deepEqual(i.Config.Shell, ['/bin/sh', '-c']);
  assert.deepEqual(i.Config.OnBuild, ['RUN echo onbuild-ran > /tmp/onbuild']);
  assert.equal(i.Author, 'someone@example.com');
  assert.match(i.Parent, /^sha256:/);
  // history: one entry per step, metadata steps without a layer.
  const hist = d.ok(['history', '--no-trunc', '--format', '{{.CreatedBy}}|{{.Size}}', 'every:1']);
  assert.match(hist, /\/bin\/sh -c #\(nop\)\s+ENV APP_HOME=\/srv\/app MODE=hi\|0B/);
  assert.match(hist, /\|1 GREETING=hi \/bin\/sh -c echo "built \$GREETING/);
  assert.match(hist, /COPY --chown=1000:1000 --chmod=640 file:[0-9a-f]{64} in \/owned\/a.txt/);
  assert.deepEqual(d.ok(['ps', '-aq']).trim(), '', 'no build container is left');

  // A base with ONBUILD: its trigger runs first in the build that uses it.
  const child = build(['-t', 'child', '-'], { input: 'FROM every:1\nRUN cat /tmp/onbuild\n' });
  assert.equal(child.code, 0, child.stderr);
  assert.match(child.stdout, /# Executing 1 build trigger\n/);
  assert.match(child.stdout, /onbuild-ran\n/);
  assert.equal(inspect('child').Config.OnBuild, null);
});

test('the cache: an unchanged context is all cache hits with the same image; a changed file invalidates from its COPY down; --no-cache and build args; builder prune leaves it', async () => {
  const df = 'FROM busybox\nENV A=1\nRUN echo one > /one\nCOPY f.txt /f.txt\nARG V\nRUN echo "$V" > /v\nCMD ["cat", "/f.txt"]\n';
  const dir = context('cache', { 'f.txt': 'first\n', Dockerfile: df });
  const before = d.ok(['images', '-aq']).split('\n').filter(Boolean).length;
  const first = build(['-t', 'cache:1', dir]);
  assert.equal(first.code, 0, first.stderr);
  assert.ok(!first.stdout.includes('Using cache'));
  const id = inspect('cache:1').Id;
  const again = build(['-t', 'cache:1', dir]);
  assert.equal(again.code, 0, again.stderr);
  assert.equal(again.stdout.match(/ ---> Using cache/g)?.length, 6, again.stdout);
  assert.ok(!again.stdout.includes('Running in'));
  assert.equal(inspect('cache:1').Id, id);

  writeFileSync(join(dir, 'f.txt'), 'second\n');
  const changed = build(['-t', 'cache:2', dir]);
  assert.equal(changed.code, 0, changed.stderr);
  const steps = changed.stdout.split(/Step \d+\/7 : /).slice(1);
  assert.deepEqual(
    steps.map((s) => s.includes('Using cache')),
    [false, true, true, false, false, false, false],
    changed.stdout,
  );
  assert.equal(d.ok(['run', '--rm', 'cache:2']), 'second\n');
  // Only the mode of a copied file changes: a new checksum too. Times alone do not.
  spawnSync('touch', ['-d', '2001-01-01', join(dir, 'f.txt')]);
  assert.equal(build(['-t', 'cache:2', dir]).stdout.match(/Using cache/g)?.length, 6);

  const arg = build(['--build-arg', 'V=x', '-t', 'cache:3', dir]);
  assert.equal(arg.stdout.match(/Using cache/g)?.length, 4, 'a build arg RUN uses is part of its key');
  assert.equal(d.ok(['run', '--rm', '--entrypoint', 'cat', 'cache:3', '/v']), 'x\n');
  const none = build(['--no-cache', '-t', 'cache:4', dir]);
  assert.equal(none.code, 0);
  assert.ok(!none.stdout.includes('Using cache'));

  // Intermediate images: hidden without -a, listed with it; a base they need cannot be deleted by id.
  const plain = d.ok(['images', '-q']).split('\n').filter(Boolean).length;
  const all = d.ok(['images', '-aq']).split('\n').filter(Boolean).length;
  assert.ok(all > plain, `${all} > ${plain}`);
  const parent = inspect('cache:1').Parent;
  assert.match(d.fails(['rmi', parent]), /image has dependent child images/);
  // As dockerd: `builder prune` is BuildKit's cache; the classic builder's is its step images,
  // which `rmi` and `image prune` remove.
  const stepImages = d.ok(['images', '-aq']);
  assert.match(d.ok(['builder', 'prune', '-f', '--all']), /Total reclaimed space: 0B/);
  assert.equal(d.ok(['images', '-aq']), stepImages);
  const prune = await d.api('POST', '/build/prune?all=1');
  assert.equal(prune.status, 200);
  assert.deepEqual(prune.json(), { CachesDeleted: null, SpaceReclaimed: 0 });
  const bad = await d.api('POST', `/build/prune?filters=${encodeURIComponent('{"nope":{"x":true}}')}`);
  assert.equal(bad.status, 400);
  assert.match(bad.text, /failed to prune build cache: invalid filter 'nope'/);
  // Removing the tagged images takes their untagged steps with them.
  d.ok(['rmi', 'cache:1', 'cache:2', 'cache:3', 'cache:4']);
  assert.equal(d.ok(['images', '-aq']).split('\n').filter(Boolean).length, before, d.ok(['images', '-a']));
});

test('multi-stage: COPY --from a stage and an image, --target, stages the target does not need are skipped', () => {
  const df = [
    'FROM busybox AS builder',
    'RUN echo compiled > /artifact && chown 7:8 /artifact',
    'FROM busybox AS broken',
    'RUN exit 1',
    'FROM scratch AS final',
    'COPY --from=builder /artifact /artifact',
    'COPY --from=busybox /bin/busybox /bin/busybox',
    'COPY --from=0 /artifact /again',
    'FROM busybox AS other',
    'RUN exit 3',
  ].join('\n');
  const dir = context('multi', { Dockerfile: df });
  const r = build(['--target', 'final', '-t', 'multi', dir]);
  assert.equal(r.code, 0, r.stderr + r.stdout);
  assert.ok(!r.stdout.includes('exit 1') && !r.stdout.includes('exit 3'), r.stdout);
  assert.equal(d.ok(['run', '--rm', 'multi', '/bin/busybox', 'cat', '/artifact', '/again']), 'compiled\ncompiled\n');
  // From another stage or image, files keep their owners (without --chown), as with dockerd.
  assert.equal(d.ok(['run', '--rm', 'multi', '/bin/busybox', 'stat', '-c', '%u:%g', '/artifact', '/again']), '7:8\n7:8\n');
  assert.equal(inspect('multi').RootFS.Layers.length, 3);
  assert.match(d.fails(['build', '--target', 'nope', dir]), /failed to reach build target nope in Dockerfile/);
});

test('a failing RUN: the exit code and message, nothing tagged, its container kept (removed with --force-rm)', () => {
  const dir = context('fail', { Dockerfile: 'FROM busybox\nRUN echo before\nRUN exit 7\n' });
  const r = build(['-t', 'failed', dir]);
  assert.equal(r.code, 7);
  assert.match(r.stderr, /The command '\/bin\/sh -c exit 7' returned a non-zero code: 7/);
  assert.match(d.fails(['image', 'inspect', 'failed']), /No such image/);
  const kept = d.ok(['ps', '-a', '--format', '{{.Status}}|{{.Command}}']);
  assert.match(kept, /Exited \(7\).*\|"\/bin\/sh -c 'exit 7'"/);
  d.removeAllContainersAndVolumes();
  const forced = build(['--force-rm', dir]);
  assert.equal(forced.code, 7);
  assert.equal(d.ok(['ps', '-aq']).trim(), '');
});

test('bad Dockerfiles and contexts get Docker\'s messages: unknown instruction, BuildKit-only syntax, COPY outside the context, a missing file, a remote context', () => {
  const cases: [string, RegExp][] = [
    ['FROM busybox\nFROBNICATE x\n', /dockerfile parse error line 2: unknown instruction: FROBNICATE/],
    ['FROM busybox\nRUN --mount=type=cache,target=/x true\n', /the --mount option requires BuildKit/],
    ['FROM busybox\nCOPY --link a /a\n', /the --link option requires BuildKit/],
    ['FROM busybox\nADD --checksum=sha256:00 a /a\n', /the --checksum option requires BuildKit/],
    ['FROM busybox\nRUN <<EOF\necho\nEOF\n', /requires BuildKit/],
    ['FROM busybox\nCOPY ../x /x\n', /COPY failed: forbidden path outside the build context: \.\.\/x \(\)/],
    ['FROM busybox\nCOPY nothere /x\n', /COPY failed: file not found in build context or excluded by \.dockerignore: stat nothere: file does not exist/],
    ['FROM busybox\nENV\n', /dockerfile parse error line 2: ENV requires at least one argument/],
    ['RUN true\n', /no build stage in current context/],
    ['', /the Dockerfile \(Dockerfile\) cannot be empty/],
    ['FROM busybox\nCOPY a b c\n', /When using COPY with more than one source file, the destination must be a directory and end with a \//],
  ];
  const dir = context('bad', { a: 'a', b: 'b' });
  for (const [df, re] of cases) {
    writeFileSync(join(dir, 'Dockerfile'), df);
    const r = build([dir]);
    assert.notEqual(r.code, 0, df);
    assert.match(r.stderr, re, df);
  }
  assert.match(d.fails(['build', '--platform', 'linux/arm64', dir]), /berth builds only linux\/amd64 images/);
  // API clients may name a remote context (the CLI fetches URLs itself): refused, nothing fetched.
  const remote = spawnSync('curl', ['-s', '-w', '\n%{http_code}', '--unix-socket', d.sock, '-X', 'POST', 'http://x/build?remote=https://example.invalid/repo.git'], { encoding: 'utf8' });
  assert.match(remote.stdout, /remote build contexts are not supported by berth.*\n400$/s);
  assert.equal(d.ok(['ps', '-aq']).trim(), '');
});

test('failed COPY, ADD, --chown, --from and WORKDIR steps read as dockerd\'s, with paths as the Dockerfile knows them: never berthd\'s data-root, exec-root or scratch space; -q shows the steps and the error', async () => {
  const dir = context('hostpaths', { a: 'a\n', 'd/x': 'x\n' });
  writeFileSync(join(dir, 'out.tar'), await makeTar([{ name: 'out', type: 'symlink', linkname: '/nonexistent-bl/dir' }, { name: 'out/f', data: 'f\n' }]));
  const chown = 'unable to convert uid/gid chown string to host mapping: ';
  const cases: [string, string | RegExp][] = [
    ['COPY missing.txt /x', 'COPY failed: file not found in build context or excluded by .dockerignore: stat missing.txt: file does not exist'],
    ['ADD d/missing /x', 'ADD failed: file not found in build context or excluded by .dockerignore: stat d/missing: file does not exist'],
    ['COPY a/x /x', 'COPY failed: forbidden path outside the build context: a/x ()'],
    ['COPY --chown=nobodyx a /a', `${chown}can't find uid for user nobodyx: no such user: nobodyx`],
    ['COPY --chown=0:nogroupx a /a', `${chown}can't find gid for group nogroupx: no such group: nogroupx`],
    // Without `:group` the user's name is the group's too, as dockerd reads it.
    ["RUN echo 'app:x:1234:1234::/:/bin/sh' >> /etc/passwd\nCOPY --chown=app a /a", `${chown}can't find gid for group app: no such group: app`],
    ['RUN rm /etc/passwd\nCOPY --chown=app a /a', `${chown}can't find uid for user app: open /etc/passwd: no such file or directory`],
    ['COPY --chown=a:b:c a /a', `${chown}invalid chown string format: a:b:c`],
    ['COPY --from=nostage /x /x', /^invalid from flag value nostage: .+/m],
    ['COPY --from=0 /x /x', 'invalid from flag value 0: refers to current build stage'],
    ['COPY --from=3 /x /x', 'invalid from flag value 3: index out of bounds'],
    ['COPY --from=busybox /nothere /x', 'COPY failed: stat nothere: file does not exist'],
    ['COPY --from=busybox /etc/passwd/x /x', 'COPY failed: forbidden path outside the build context: etc/passwd/x ()'],
    ['RUN touch /f\nWORKDIR /f/sub', 'lstat /f/sub: not a directory'],
    ['COPY a /etc/passwd/x', 'failed to copy files: lstat /etc/passwd/x: not a directory'],
    ['COPY d /etc/passwd', 'failed to copy files: mkdir /etc/passwd: not a directory'],
    ['ADD out.tar /dst/', 'failed to copy files: Error processing tar file: failed to extract "out/f": mkdir /nonexistent-bl/dir: no such file or directory'],
    ['ADD out.tar /etc/passwd', 'failed to copy files: mkdir /etc/passwd: not a directory'],
  ];
  const hostPaths = [d.dir, d.dataRoot, d.execRoot, dir, scratch];
  const check = (df: string, r: { code: number; stdout: string; stderr: string }, expected: string | RegExp) => {
    assert.equal(r.code, 1, `${df}: ${r.stdout}${r.stderr}`);
    if (typeof expected === 'string') assert.ok(r.stderr.split('\n').includes(expected), `${df}: ${r.stderr}`);
    else assert.match(r.stderr, expected, df);
    for (const p of hostPaths) assert.ok(!`${r.stdout}${r.stderr}`.includes(p), `${df} shows ${p}: ${r.stderr}`);
    assert.doesNotMatch(`${r.stdout}${r.stderr}`, /\/tmp\/|overlay2|Error response from daemon/, df);
  };
  for (const [steps, expected] of cases) {
    const df = `FROM busybox\n${steps}\n`;
    writeFileSync(join(dir, 'Dockerfile'), df);
    check(df, build([dir]), expected);
  }
  // The first layer on scratch is made in the build's scratch space: that is not shown either.
  writeFileSync(join(dir, 'Dockerfile'), 'FROM scratch\nADD out.tar /dst/\n');
  check('FROM scratch', build([dir]), 'failed to copy files: Error processing tar file: failed to extract "out/f": mkdir /nonexistent-bl/dir: no such file or directory');
  // -q: held back, the steps come out with the error (as dockerd's buffer and the CLI print them).
  writeFileSync(join(dir, 'Dockerfile'), 'FROM busybox\nCOPY missing.txt /x\n');
  const quiet = build(['-q', dir]);
  check('-q', quiet, cases[0]?.[1] as string);
  assert.match(quiet.stderr, /Step 2\/2 : COPY missing.txt \/x\n/);
  const ok = build(['-q', context('quiet-ok', { Dockerfile: 'FROM busybox\nENV Q=1\n' })]);
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /^sha256:[0-9a-f]{64}\n$/);
  d.removeAllContainersAndVolumes();
});

test('a Dockerfile from stdin: alone (docker build -) and with a context (-f- .), and -f outside the context or with a name too long', async () => {
  const alone = build(['-t', 'stdin', '-'], { input: 'FROM busybox\nRUN echo from-stdin > /s\n' });
  assert.equal(alone.code, 0, alone.stderr);
  const dir = context('stdin', { 'x.txt': 'x\n' });
  const withCtx = build(['-t', 'stdin2', '-f-', dir], { input: 'FROM busybox\nCOPY x.txt /x.txt\n' });
  assert.equal(withCtx.code, 0, withCtx.stderr);
  assert.equal(d.ok(['run', '--rm', 'stdin2', 'cat', '/x.txt']), 'x\n');
  const outside = join(scratch, 'Outside.dockerfile');
  writeFileSync(outside, 'FROM busybox\nCOPY x.txt /y.txt\n');
  const f = build(['-t', 'stdin3', '-f', outside, dir]);
  assert.equal(f.code, 0, f.stderr);
  assert.equal(d.ok(['run', '--rm', 'stdin3', 'cat', '/y.txt']), 'x\n');
  // A name past NAME_MAX is not in the context, as any other missing one (a 500 naming a host path before).
  const tar = spawnSync('tar', ['-cf', '-', '-C', dir, '.']).stdout;
  for (const name of ['x'.repeat(300), 'a/'.repeat(3000)]) {
    const r = await d.api('POST', `/build?dockerfile=${encodeURIComponent(name)}`, tar, { 'Content-Type': 'application/x-tar' });
    assert.equal(r.status, 400, r.text.slice(0, 300));
    assert.equal((r.json() as { message: string }).message, `Cannot locate specified Dockerfile: ${name}`);
  }
});

test('docker-compose build: services with args, target and dockerfile build and run; dockerode buildImage', async () => {
  const dir = context('compose', {
    'svc/Build.df': 'FROM busybox AS base\nARG WORD\nRUN echo "$WORD" > /word\nFROM base AS run\nCMD ["cat", "/word"]\nFROM base AS unused\nRUN exit 9\n',
    'docker-compose.yml': 'version: "3.7"\nservices:\n  app:\n    build:\n      context: ./svc\n      dockerfile: Build.df\n      target: run\n      args:\n        WORD: composed\n    image: composed-app\n',
  });
  const compose = (args: string[]) => {
    const r = spawnSync('docker-compose', ['-p', 'bt', ...args], {
      cwd: dir,
      encoding: 'utf8',
      timeout: 180_000,
      env: { ...process.env, DOCKER_HOST: d.host, DOCKER_CONFIG: join(d.dir, 'docker-config'), COMPOSE_INTERACTIVE_NO_CLI: '1', DOCKER_BUILDKIT: '0', COMPOSE_DOCKER_CLI_BUILD: '0' },
    });
    return { code: r.status ?? -1, out: `${r.stdout ?? ''}${r.stderr ?? ''}` };
  };
  try {
    const b = compose(['build']);
    assert.equal(b.code, 0, b.out);
    const up = compose(['up', '--no-color']);
    assert.equal(up.code, 0, up.out);
    assert.match(up.out, /app_1\s+\| composed/);
  } finally {
    compose(['down', '-v']);
  }

  const docker = new Docker({ socketPath: d.sock });
  const stream = await docker.buildImage({ context: join(dir, 'svc'), src: ['Build.df'] }, { t: 'dockerode-built', dockerfile: 'Build.df', target: 'run', buildargs: { WORD: 'dockerode' } });
  const events = await new Promise<{ stream?: string; error?: string }[]>((resolve, reject) => docker.modem.followProgress(stream, (err: Error | null, res: unknown[]) => (err ? reject(err) : resolve(res as never))));
  assert.ok(!events.some((e) => e.error), JSON.stringify(events));
  assert.ok(events.some((e) => e.stream?.startsWith('Successfully tagged dockerode-built:latest')));
  assert.equal(d.ok(['run', '--rm', 'dockerode-built']), 'dockerode\n');
});

test('kill -9 of berthd during a RUN step: after the restart the step container is reported and removable, nothing half-built is tagged, the build runs again', async () => {
  const dir = context('crash', { Dockerfile: 'FROM busybox\nRUN echo started; sleep 2; touch /tmp/x\nRUN echo done\n' });
  const marker = join(scratch, 'crash-started');
  const bg = d.dockerAsync(['build', '-t', 'crashed', dir], { timeoutMs: 120_000 });
  bg.proc.stdout?.on('data', (c: Buffer) => {
    if (c.toString().includes('started')) writeFileSync(marker, '');
  });
  for (let i = 0; i < 600 && !existsSync(marker); i++) await new Promise((r) => setTimeout(r, 100));
  assert.ok(existsSync(marker), 'the RUN step started');
  await d.kill();
  const cli = await bg.done;
  assert.notEqual(cli.code, 0);
  await d.start();
  assert.match(d.fails(['image', 'inspect', 'crashed']), /No such image/);
  const left = d.ok(['ps', '-aq']).split('\n').filter(Boolean);
  for (const id of left) d.ok(['rm', '-f', id]);
  const again = build(['-t', 'crashed', dir]);
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stdout, /done\n/);
  assert.equal(readFileSync(join(dir, 'Dockerfile'), 'utf8').includes('sleep'), true);
});
