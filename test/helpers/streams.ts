import { PassThrough } from 'node:stream';
import type Docker from 'dockerode';

/** A container's output from dockerode: split by stdcopy framing (`demux`), or raw as one. */
export function collectOutput(docker: Docker, stream: NodeJS.ReadableStream, demux = true): Promise<{ out: string; err: string }> {
  return new Promise((resolve, reject) => {
    const out = new PassThrough();
    const err = new PassThrough();
    let o = '';
    let e = '';
    out.on('data', (c: Buffer) => (o += c.toString()));
    err.on('data', (c: Buffer) => (e += c.toString()));
    if (demux) docker.modem.demuxStream(stream, out, err);
    else stream.on('data', (c: Buffer) => (o += c.toString()));
    stream.on('end', () => resolve({ out: o, err: e }));
    stream.on('error', reject);
  });
}
