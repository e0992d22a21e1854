// What other parts of berth use of the builder.
export { build, type BuildOptions, type BuildOutput } from './build.js';
export { StepFailure } from './steps.js';
export type { BuildHost, BuildImage, BuildImages, BuildContainers, NewImage, StepContainer } from './ports.js';
// commit/import --change: each change is a Dockerfile line, checked as the builder checks it.
export { parseTrigger as parseInstruction, type Instruction } from './dockerfile/instructions.js';
export { DockerfileError } from './dockerfile/parser.js';
export { changeConfig, envLookup, expander, workdirOf } from './config-change.js';
export { shellOf } from './state.js';
