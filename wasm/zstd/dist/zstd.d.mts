// Declarations for one tool's emscripten 3.1.6 glue (MODULARIZE=1, EXPORT_ES6=1): its
// default export is the module factory. wasm/build.sh copies this file beside each
// <tool>.mjs in dist/ as <tool>.d.mts; the runtime describes the module it gets (FS,
// callMain, heap, the settings pre.js reads) in workers/runtime/emscripten-types.ts.
import type { EmFactory } from '../../../workers/runtime/emscripten-types.ts';

declare const createModule: EmFactory;
export default createModule;
