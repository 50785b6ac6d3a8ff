// Defaults for the e2fsprogs programs, linked with --pre-js before wasm/common/pre.js.

// debugfs (libss) would look for a readline library to load.
Module['env'] = Object.assign({ 'SS_READLINE_PATH': 'none' }, Module['env'] || {});

// ext2fs_check_if_mounted() reads /etc/mtab; without one resize2fs (and others)
// stop with "can't check if filesystem is mounted". An empty one means "nothing
// is mounted". Created before main runs unless the caller made one.
Module['preRun'] = [].concat(Module['preRun'] || [], [function() {
  try { FS.mkdir('/etc'); } catch (e) {}
  try { FS.lookupPath('/etc/mtab'); } catch (e) { FS.writeFile('/etc/mtab', ''); }
}]);
