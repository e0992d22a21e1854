// What other parts of berth use of storage/: the layer store and the tar extractor.
export { LayerStore, chainIdOf, type LayerMeta, type BlobFile } from './layer-store.js';
export { compressionOfFile, compressionOfHead, type BlobInfo, type Compression } from './blob-store.js';
export { extractTar } from './tar-extract.js';
export { createZstdDecompress } from './zstd.js';
