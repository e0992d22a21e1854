import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { daemonForFile, sleep, type TestDaemon } from '../helpers/daemon.js';

// `logs -f` as a client reads it: lines written one at a time go out straight from the file
// watch, each as its own HTTP chunk on the socket; bursts, a backlog and a client that stops
// reading go the ordinary way. Both must give every line once, in order, in valid HTTP.
let d: TestDaemon;
daemonForFile((x) => {
  d = x;
});

/** `GET /containers/{name}/logs?follow=1` over HTTP/1.1 (chunked), demultiplexed; paused once for `pauseMs` after the first bytes. */
function follow(name: string, pauseMs: number): Promise<{ stdout: string; stderr: string; chunked: boolean }> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: d.sock, path: `/v1.47/containers/${name}/logs?follow=1&stdout=1&stderr=1`, method: 'GET' }, (res) => {
      const chunked = res.headers['transfer-encoding'] === 'chunked';
      let buf = Buffer.alloc(0);
      let paused = false;
      res.on('data', (c: Buffer) => {
        buf = Buffer.concat([buf, c]);
        if (!paused && pauseMs > 0) {
          // A client that stops reading: what comes meanwhile waits in the socket and berthd.
          paused = true;
          res.pause();
          setTimeout(() => res.resume(), pauseMs);
        }
      });
      res.on('error', reject);
      res.on('end', () => {
        const out = { stdout: '', stderr: '' };
        let at = 0;
        while (at + 8 <= buf.length) {
          const len = buf.readUInt32BE(at + 4);
          const text = buf.subarray(at + 8, at + 8 + len).toString();
          if (buf[at] === 1) out.stdout += text;
          else out.stderr += text;
          at += 8 + len;
        }
        assert.equal(at, buf.length, 'whole stdcopy frames');
        resolve({ ...out, chunked });
      });
    });
    req.on('error', reject);
    req.end();
  });
}

test('logs -f: lines one at a time, bursts and a client that stops reading for a while all come once, in order, as valid chunked HTTP; the CLI sees the same', async () => {
  // Single lines with pauses (each read straight from the watch), then bursts of 200 (read
  // as a backlog), then single lines again, and a last line on stderr.
  const script = [
    'i=0',
    'while [ $i -lt 30 ]; do echo "s$i"; i=$((i+1)); sleep 0.02; done',
    'j=0; while [ $j -lt 5 ]; do k=0; while [ $k -lt 200 ]; do echo "b$j.$k"; k=$((k+1)); done; j=$((j+1)); sleep 0.05; done',
    'i=0; while [ $i -lt 30 ]; do echo "t$i"; i=$((i+1)); sleep 0.02; done',
    'echo last >&2',
  ].join('; ');
  d.ok(['create', '--name', 'follow', 'busybox', 'sh', '-c', `sleep 1; ${script}`]);
  const expected = [
    ...Array.from({ length: 30 }, (_, i) => `s${i}`),
    ...Array.from({ length: 5 }, (_, j) => Array.from({ length: 200 }, (_, k) => `b${j}.${k}`)).flat(),
    ...Array.from({ length: 30 }, (_, i) => `t${i}`),
  ].map((l) => `${l}\n`).join('');
  d.ok(['start', 'follow']);
  const cli = d.dockerAsync(['logs', '-f', 'follow'], { timeoutMs: 60_000 });
  const steady = follow('follow', 0);
  await sleep(300);
  // Paused through the single lines and into the bursts: it catches up the ordinary way.
  const slow = follow('follow', 1500);
  for (const [what, got] of [['steady', await steady], ['paused', await slow]] as const) {
    assert.equal(got.chunked, true, `${what}: HTTP/1.1 chunked, as dockerd answers`);
    assert.equal(got.stdout, expected, `${what}: every stdout line once, in order`);
    assert.equal(got.stderr, 'last\n', what);
  }
  const r = await cli.done;
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, expected);
  assert.equal(r.stderr, 'last\n');
  d.ok(['rm', 'follow']);
});
