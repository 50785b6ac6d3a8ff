/**
 * The runtime: the wasm e2fsprogs and zstd, run on a sparse in-memory image and a
 * TreeEntry tree, in a Web Worker or in Node. See README.md in this folder.
 * (`node-image-file.ts` is Node only and not re-exported here.)
 */
export {
  MemoryImageStore,
  BackedImageStore,
  UndoableImageStore,
  OverlayImageStore,
  DEFAULT_CHUNK_SIZE,
  fillStore,
  isAllZero,
  createSha256,
} from './image-store.ts';
export type {
  ImageStore,
  ImageStoreOptions,
  BackedImageStoreOptions,
  StoreBacking,
  StoreExtent,
  ChunkStreamOptions,
  Sha256,
} from './image-store.ts';
export { runTool, ToolCrashError, MKE2FS_CONF_PATH, MAX_TIME } from './run-tool.ts';
export type { RunToolOptions, ToolMount, ToolResult } from './run-tool.ts';
export {
  compileTool,
  loadToolFactory,
  loadMke2fsConf,
  preloadTools,
  setWasmDirs,
  toolWasmUrl,
  E2FS_TOOLS,
} from './wasm-modules.ts';
export type { E2fsTool, WasmTool } from './wasm-modules.ts';
export { describeWasmCodeCache, saveWasmCodeCache, wasmCodeCacheState } from './wasm-code-cache.ts';
export type { ToolCodeCacheState, WasmCodeCacheState } from './wasm-code-cache.ts';
export { createImageFs, mountImageFs, newImageFsStats, IMAGEFS_DEV } from './image-fs.ts';
export type { ImageFsMountOptions, ImageFsStats } from './image-fs.ts';
export { indexTree, createTreeFs, mountTreeFs, TreeError, TREEFS_DEV } from './tree-fs.ts';
export type { ReadBlobSync, TreeFs, TreeFsOptions, TreeFsStats, TreeIndex } from './tree-fs.ts';
export {
  compressStream,
  decompressStream,
  createCompressionStream,
  createDecompressionStream,
  ZstdCompressor,
  ZstdDecompressor,
  ZstdError,
} from './zstd-stream.ts';
export type { CompressOptions, DecompressOptions } from './zstd-stream.ts';
export {
  compressFrames,
  FRAME_PIECE,
  framePieceFor,
  frameWorkersStarted,
  lastPoolError,
  stopFrameWorkers,
  storeSource,
} from './zstd-frames.ts';
export type { FrameOptions, FrameSource } from './zstd-frames.ts';
export { createStreamHash, IN_THREAD_HASH_MAX, MAX_PENDING } from './sha256-off-thread.ts';
export { prestartBlobReadAhead, readAheadWorkersStarted } from './blob-read-ahead.ts';
export type { StreamHash } from './sha256-off-thread.ts';
