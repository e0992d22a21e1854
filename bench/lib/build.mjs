// `docker build` with the classic builder on both engines: the same 10-step Dockerfile
// (RUNs, COPYs of a small tree, metadata steps), cold (--no-cache) and fully cached.
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { interleave, recordAll } from './scenarios.mjs';

const DOCKERFILE = `FROM busybox
ENV APP=/app
WORKDIR /app
COPY src/ ./src/
RUN for i in 1 2 3 4 5 6 7 8 9 10; do echo $i > /app/n$i; done
COPY conf.txt /etc/app.conf
RUN cat /etc/app.conf > /app/conf && ls /app/src | wc -l > /app/count
LABEL bench=build
EXPOSE 8080
CMD ["cat", "/app/conf"]
`;

export async function buildDockerfile(ctx, root) {
  const dir = join(root, 'build-context');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(join(dir, 'src'), { recursive: true });
  for (let i = 0; i < 50; i++) writeFileSync(join(dir, 'src', `f${i}.txt`), `file ${i}\n`.repeat(200));
  writeFileSync(join(dir, 'conf.txt'), 'setting=1\n');
  writeFileSync(join(dir, 'Dockerfile'), DOCKERFILE);
  const reps = ctx.opts.quick ? 2 : 5;
  const build = async (e, extra) => (await e.dockerOk(['build', '--network', 'none', ...extra, '-t', 'bench-build', dir], { timeoutMs: 600_000 })).ms;
  const cold = await interleave(ctx, reps, (e) => build(e, ['--no-cache']));
  const cached = await interleave(ctx, reps, (e) => build(e, []));
  const meta = (label) => ({ section: 'docker build (classic builder)', label, unit: 'ms' });
  recordAll(ctx, 'build-cold', meta('build of a 10-step Dockerfile, --no-cache (2 RUN, 2 COPY of 51 files)'), cold);
  recordAll(ctx, 'build-cached', meta('the same build again, every step from the cache'), cached);
  for (const e of ctx.engines) {
    await e.dockerOk(['rmi', 'bench-build']);
    await e.docker(['image', 'prune', '-f']);
  }
  rmSync(dir, { recursive: true, force: true });
}
