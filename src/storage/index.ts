// What other parts of berth use of storage/: the layer store, the tar extractor, and the rules
// every tar read follows (for docker cp, which writes its entries through its own helper).
export { LayerStore, chainIdOf, type LayerMeta, type BlobFile } from './layer-store.js';
export { compressionOfFile, compressionOfHead, type BlobInfo, type Compression } from './blob-store.js';
export { extractTar } from './tar-extract.js';
export { createZstdDecompress } from './zstd.js';
export { decompressed, isTarArchive } from './decompress.js';
export { classify, detectCompression, formatOf, metaOf, sniff, splitPath, symlinkEscapes, toBuffer, type Headers } from './tar-entries.js';
