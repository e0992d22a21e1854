// What other parts of berth use of the builder.
export { build, type BuildOptions, type BuildOutput } from './build.js';
export { StepFailure } from './steps.js';
export type { BuildHost, BuildImage, BuildImages, BuildContainers, NewImage, StepContainer } from './ports.js';
