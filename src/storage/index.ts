// What other parts of berth use of storage/: the layer store and the tar extractor.
export { LayerStore, chainIdOf, type LayerMeta } from './layer-store.js';
export { extractTar } from './tar-extract.js';
