import { invalidParameter } from '../lib/errors.js';
import { changeConfig, DockerfileError, envLookup, expander, parseInstruction, shellOf, workdirOf, type Instruction } from '../builder/index.js';

/**
 * The Dockerfile instructions `docker import --change` and `docker commit --change` accept,
 * applied to an image's runtime config (the `config` object of the image config).
 */
const ALLOWED = new Set(['CMD', 'ENTRYPOINT', 'ENV', 'EXPOSE', 'HEALTHCHECK', 'LABEL', 'ONBUILD', 'STOPSIGNAL', 'USER', 'VOLUME', 'WORKDIR']);

export function applyChanges(config: Record<string, unknown>, changes: string[]): Record<string, unknown> {
  const out: Record<string, unknown> = { ...config };
  // As in a build stage: an ENTRYPOINT drops the command it inherited, not one a change set.
  let cmdSet = false;
  for (const [i, change] of changes.entries()) {
    const trimmed = change.trim();
    if (trimmed === '') continue;
    const instr = (/^\S+/.exec(trimmed)?.[0] ?? '').toUpperCase();
    if (!ALLOWED.has(instr)) throw invalidParameter(`${instr} is not a valid change command`);
    // dockerd parses the changes as the lines of a Dockerfile: the builder's parser, its
    // checks and messages (`dockerfile parse error line 1: ENV requires at least one argument`).
    let ins: Instruction;
    try {
      ins = parseInstruction(trimmed, i + 1);
    } catch (err) {
      if (err instanceof DockerfileError) throw invalidParameter(err.message, err);
      throw err;
    }
    // Words are substituted from the config's Env as it stands, earlier changes included.
    const x = expander(envLookup(out), '\\');
    if (changeConfig(out, ins, x) !== undefined) continue;
    if (ins.kind === 'cmd' || ins.kind === 'entrypoint') {
      out[ins.kind === 'cmd' ? 'Cmd' : 'Entrypoint'] = ins.command.json ? ins.command.words : [...shellOf(out), ins.command.text];
      if (ins.kind === 'cmd') cmdSet = true;
      else if (!cmdSet) out['Cmd'] = null;
    } else if (ins.kind === 'workdir') {
      out['WorkingDir'] = workdirOf(out['WorkingDir'], x.word(ins.value));
    }
  }
  return out;
}
