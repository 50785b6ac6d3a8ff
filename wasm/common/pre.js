// Module defaults shared by every program built here; linked with --pre-js after a
// one-line file that sets WASM_TOOL_NAME (e.g. 'mke2fs'). Every default can be
// overridden by passing the option to the factory.

// Program name: argv[0] of callMain (e2fsprogs prints it in messages).
if (!Module['thisProgram']) Module['thisProgram'] = WASM_TOOL_NAME;

// stdin is at EOF: a read never blocks, waits or calls window.prompt().
if (!Module['stdin']) Module['stdin'] = function() { return null; };

// exit() and a return from main throw ExitStatus, which callMain catches and turns
// into its return value; the host process (Node) is never ended.
if (!Module['quit']) Module['quit'] = function(status, toThrow) { throw toThrow; };

// Module.env: variables merged into the program's environment before its C
// constructors read it (the environment is read once, before callMain).
(function() {
  var preRun = Module['preRun'] || [];
  if (typeof preRun == 'function') preRun = [preRun];
  // emscripten runs Module.preRun entries last-first: this one runs first, so
  // the caller's own preRun hooks can still edit Module.ENV after it.
  Module['preRun'] = preRun.concat([function() {
    var env = Module['env'];
    if (env && typeof ENV != 'undefined') {
      for (var k in env) ENV[k] = env[k];
    }
  }]);
})();

// Node, ES module: the 3.1.6 glue expects CommonJS `require` and `__dirname`.
var require, __dirname;
if (typeof process == 'object' && typeof process.versions == 'object' &&
    typeof process.versions.node == 'string') {
  require = function(id) {
    if (typeof process.getBuiltinModule == 'function') return process.getBuiltinModule(id);
    throw new Error('Node >= 20.16 is needed to load ' + WASM_TOOL_NAME + '.mjs');
  };
  try {
    __dirname = require('path').dirname(require('url').fileURLToPath(_scriptDir));
  } catch (e) {
    __dirname = '.';
  }
  // Without wasmBinary/instantiateWasm, read the .wasm beside the .mjs (the glue
  // would otherwise try fetch() on a file path).
  if (!Module['wasmBinary'] && !Module['instantiateWasm']) {
    var wasmFile = WASM_TOOL_NAME + '.wasm';
    wasmFile = Module['locateFile'] ? Module['locateFile'](wasmFile, __dirname + '/')
                                    : __dirname + '/' + wasmFile;
    Module['wasmBinary'] = require('fs').readFileSync(wasmFile);
  }
}
