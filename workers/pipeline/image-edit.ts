/**
 * Changing an existing image with debugfs: each edit is planned from listings (`ls -p`,
 * batched per directory level) and carried out by one debugfs command file, so a folder
 * of thousands of files is a handful of tool runs.
 *
 * debugfs 1.47.4 has no `rename` and `ln` neither bumps link counts nor makes room in a
 * full directory block, so:
 * - a rename or a move is `ln` + `unlink`; a folder moving to another parent is re-made
 *   there (its `..` must change), its entries linked over, the old one removed;
 * - before each `ln` a placeholder of at least the same name length is written and
 *   removed (`write` expands a full directory, `rm` leaves the room behind);
 * - hard links get `sif links_count`.
 * Names reach debugfs as quoted arguments (core/debugfs-output.ts); `cd` and `sif` take
 * `./name`, since they read `<12>` as inode 12. Commands address directories by inode
 * (`cd <ino>`), so long paths never meet the command-file line limit.
 *
 * Callers keep a snapshot of the store: a failed edit leaves the image half-changed.
 */
import { argumentProblem, fitsCommandLine, quoteArg, type LsRecord } from '../../core/debugfs-output.ts';
import { S_IFDIR, S_IFLNK, S_IFMT, S_IFREG } from '../../core/file-mode.ts';
import { asClause, baseName, nameProblem, parentPath } from '../../core/image-path.ts';
import type { InputProblem, TreeEntry } from '../../core/image-tree.ts';
import type { ImageEdit } from '../../core/engine-contract.ts';
import type { ImageStore } from '../runtime/image-store.ts';
import { MAX_TIME, type ToolMount } from '../runtime/run-tool.ts';
import { EngineFailure } from './engine-failure.ts';
import { listInodes, checkedImagePath, resolvePath, ROOT_INODE, runCommands, statInodes } from './image-inspect.ts';

const encoder = new TextEncoder();
const isDir = (mode: number) => (mode & S_IFMT) === S_IFDIR;

/** Options of {@link applyEdits}. */
export interface EditOptions {
  /** The filesystem's block size (sizes folders made for a move). Default 4096. */
  blockSize?: number;
}

/** Applies edits in order. Rejects with an EngineFailure naming the edit and debugfs's words. */
export async function applyEdits(
  store: ImageStore,
  edits: readonly ImageEdit[],
  options: EditOptions = {},
): Promise<void> {
  for (const edit of edits) {
    switch (edit.kind) {
      case 'add':
        await addEntries(store, edit.entries, edit.replace ?? false);
        break;
      case 'delete':
        await deletePath(store, edit.path);
        break;
      case 'move':
        await movePath(store, edit.from, edit.to, options.blockSize ?? 4096);
        break;
      case 'chmod':
        await chmodPath(store, edit.path, edit.mode);
        break;
      case 'chown':
        await chownPath(store, edit.path, edit.uid, edit.gid);
        break;
      default:
        throw refuse('', `unknown edit ${JSON.stringify((edit as { kind: unknown }).kind)}`);
    }
  }
}

// ---- scripts ----------------------------------------------------------------------------

/** A debugfs command file being written, tracking the working directory. */
class Script {
  readonly lines: string[] = [];
  private cwd = '';

  /** Changes to a directory given as `<ino>` followed by names below it. */
  cd(steps: readonly string[]): void {
    const key = steps.join('\0');
    if (key === this.cwd) return;
    this.push(`cd ${steps[0]}`);
    for (const name of steps.slice(1)) this.push(`cd ${quoteArg(`./${name}`)}`);
    this.cwd = key;
  }

  push(line: string): number {
    if (!fitsCommandLine(line))
      throw refuse(
        line.slice(0, 60),
        'a name or link target is too long for a debugfs command (about 1000 bytes at most)',
      );
    this.lines.push(line);
    return this.lines.length - 1;
  }

  /** Makes room for one more entry named `name` in the current directory (see the file comment). */
  room(name: string): void {
    const len = Math.max(encoder.encode(name).length, 24);
    const placeholder = `.dis-room-${randomHex()}`.padEnd(len, 'x');
    this.push(`write /src/empty ${quoteArg(placeholder)}`);
    this.push(`rm ${quoteArg(placeholder)}`);
  }

  sif(target: string, field: string, value: string): void {
    this.push(`sif ${target} ${field} ${value}`);
  }
}

function randomHex(): string {
  const b = new Uint8Array(8);
  crypto.getRandomValues(b);
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

const rel = (name: string) => quoteArg(`./${name}`);
const time = (t: number) => `@${Math.min(MAX_TIME, Math.max(0, Math.floor(t)))}`;

/**
 * Runs a script read-write with `files` readable at `/src/f<n>` (and `/src/empty` for
 * placeholders); the first error line fails it, naming the command.
 */
async function runScript(store: ImageStore, script: Script, what: string, files: TreeEntry[] = []) {
  const source: ToolMount = {
    type: 'tree',
    path: '/src',
    epoch: 1,
    entries: [
      { path: '/', type: 'directory', mode: 0o755, uid: 0, gid: 0, mtime: 1, size: 0, origin: 'edit' },
      { path: '/empty', type: 'file', mode: 0o600, uid: 0, gid: 0, mtime: 1, size: 0, origin: 'edit' },
      ...files,
    ],
  };
  const run = await runCommands(store, script.lines, { write: true, extra: [source] });
  const first = run.errors[0];
  if (first) {
    const command = first.section >= 0 ? run.sections[first.section]?.command : undefined;
    const full = /No free space|Could not allocate (block|inode)|No space left|Out of space/i.test(first.line);
    throw new EngineFailure({
      code: 'tool-failed',
      message: `${what} failed: debugfs said "${first.line.trim()}"${command ? ` at "${command}"` : ''}.`,
      hint: full
        ? 'The filesystem is full: grow it (Resize) and try again. Nothing was changed.'
        : 'Nothing was changed. The details below show what debugfs was doing.',
      problems: [],
      toolOutput: run.errors
        .map((e) => (e.section >= 0 ? `${run.sections[e.section]?.command}: ${e.line}` : e.line))
        .join('\n'),
    });
  }
  return run;
}

function refuse(
  path: string,
  why: string,
  code = 'bad-edit',
  hint = 'Change the request and try again. Nothing was changed.',
): EngineFailure {
  return new EngineFailure({
    code: 'bad-input',
    message: path ? `${path}: ${why}.` : `${why}.`,
    hint,
    problems: [{ severity: 'error', code, input: 'image', path: path || undefined, message: why, hint }],
  });
}

function checkName(path: string, name: string): void {
  const why = argumentProblem(name);
  if (why) throw refuse(path, `the name ${why}`);
  const problem = nameProblem(name);
  if (problem) throw refuse(path, asClause(problem));
}

// ---- subtrees ---------------------------------------------------------------------------

/** Every directory below (and including) `inode`, level by level: one debugfs run per level. */
async function listSubtree(store: ImageStore, inode: number): Promise<Array<[number, LsRecord[]]>> {
  const out: Array<[number, LsRecord[]]> = [];
  let level = [inode];
  const seen = new Set<number>();
  while (level.length > 0) {
    const listed = await listInodes(store, level);
    const next: number[] = [];
    for (const ino of level) {
      const records = listed.get(ino) ?? [];
      out.push([ino, records]);
      for (const r of records) {
        if (isDir(r.mode) && !seen.has(r.inode)) {
          seen.add(r.inode);
          next.push(r.inode);
        }
      }
    }
    level = next;
  }
  return out;
}

/** Lines removing `name` (in directory `parent`), a folder with everything below it. */
async function deleteLines(
  store: ImageStore,
  script: Script,
  parent: number,
  name: string,
  record: LsRecord,
): Promise<void> {
  if (isDir(record.mode)) {
    const tree = await listSubtree(store, record.inode);
    // Deepest folders first, so each is empty by the time its own parent removes it.
    for (let i = tree.length - 1; i >= 0; i--) {
      const [dir, records] = tree[i];
      for (const r of records) {
        script.cd([`<${dir}>`]);
        script.push(`${isDir(r.mode) ? 'rmdir' : 'rm'} ${quoteArg(r.name)}`);
      }
    }
    script.cd([`<${parent}>`]);
    script.push(`rmdir ${quoteArg(name)}`);
  } else {
    script.cd([`<${parent}>`]);
    script.push(`rm ${quoteArg(name)}`);
  }
}

// ---- delete, move, chmod, chown ------------------------------------------------------

async function mustResolve(store: ImageStore, path: string) {
  const norm = checkedImagePath(path);
  const r = await resolvePath(store, norm);
  if (!r.record) throw refuse(norm, 'no such file or folder in the image', 'not-found');
  return { ...r, record: r.record, path: norm };
}

async function deletePath(store: ImageStore, path: string): Promise<void> {
  const r = await mustResolve(store, path);
  if (r.path === '/') throw refuse('/', 'the root folder cannot be deleted (delete what is in it instead)');
  const script = new Script();
  await deleteLines(store, script, r.parent, r.name, r.record);
  await runScript(store, script, `Deleting ${r.path}`);
}

async function movePath(store: ImageStore, fromPath: string, toPath: string, blockSize: number): Promise<void> {
  const from = await mustResolve(store, fromPath);
  const to = checkedImagePath(toPath);
  if (from.path === to) return;
  if (from.path === '/') throw refuse('/', 'the root folder cannot be moved');
  if (to.startsWith(`${from.path}/`)) throw refuse(to, `a folder cannot be moved into itself (${from.path})`);
  const toName = baseName(to);
  checkName(to, toName);
  const target = await resolvePath(store, to).catch((e: unknown) => {
    if (e instanceof EngineFailure)
      throw refuse(to, `the folder ${parentPath(to)} does not exist in the image`, 'not-found');
    throw e;
  });
  if (target.record) throw refuse(to, 'something with that name already exists there', 'image-path-exists');

  const script = new Script();
  if (!isDir(from.record.mode) || target.parent === from.parent) {
    script.cd([`<${target.parent}>`]);
    script.room(toName);
    script.push(`ln <${from.record.inode}> ${quoteArg(toName)}`);
    script.cd([`<${from.parent}>`]);
    script.push(`unlink ${quoteArg(from.name)}`);
  } else {
    const dirs = [
      from.record,
      { inode: from.parent, mode: S_IFDIR, size: 0 },
      { inode: target.parent, mode: S_IFDIR, size: 0 },
    ];
    const stats = await statInodes(store, dirs);
    const flags = stats.get(from.record.inode)?.flags ?? -1;
    if (flags >= 0 && (flags & (INDEX_FL | INLINE_DATA_FL)) === 0) {
      // A plain (linear) folder: link it under its new parent and point its '..' there.
      // With '..' unlinked, '.' absorbs its room, and the new '..' lands right after '.'
      // again: the layout e2fsck expects.
      script.cd([`<${target.parent}>`]);
      script.room(toName);
      script.push(`ln <${from.record.inode}> ${quoteArg(toName)}`);
      script.cd([`<${from.parent}>`]);
      script.push(`unlink ${quoteArg(from.name)}`);
      script.cd([`<${from.record.inode}>`]);
      script.push('unlink ..');
      script.push(`ln <${target.parent}> ..`);
      script.sif(`<${from.parent}>`, 'links_count', String(stats.get(from.parent)!.links - 1));
      script.sif(`<${target.parent}>`, 'links_count', String(stats.get(target.parent)!.links + 1));
    } else {
      // Hash-indexed or inline folders are remade under the new parent instead.
      await moveFolderLines(
        store,
        script,
        from.parent,
        from.name,
        from.record,
        [`<${target.parent}>`],
        toName,
        blockSize,
      );
    }
  }
  await runScript(store, script, `Moving ${from.path} to ${to}`);
}

/** ext4 inode flags: a hash-indexed directory, data kept in the inode. */
const INDEX_FL = 0x1000;
const INLINE_DATA_FL = 0x10000000;

/** `expand` runs that give a new folder room for `names` without `ln` ever finding it full. */
function blocksFor(names: readonly string[], blockSize: number): number {
  // Per block: the metadata_csum tail (12 bytes); '.' and '..' (24) in the first one.
  const usable = blockSize - 12;
  let blocks = 1;
  let used = 24;
  for (const n of names) {
    const rec = 8 + ((encoder.encode(n).length + 3) & ~3);
    if (used + rec > usable) {
      blocks++;
      used = 0;
    }
    used += rec;
  }
  return blocks;
}

/** A folder moving to another parent: made anew there, its entries linked over, the old one removed. */
async function moveFolderLines(
  store: ImageStore,
  script: Script,
  oldParent: number,
  oldName: string,
  record: LsRecord,
  newParentSteps: string[],
  newName: string,
  blockSize: number,
): Promise<void> {
  const tree = new Map(await listSubtree(store, record.inode));
  const dirRecords: LsRecord[] = [record];
  for (const records of tree.values()) for (const r of records) if (isDir(r.mode)) dirRecords.push(r);
  const stats = await statInodes(store, dirRecords);
  // Depth first with an explicit stack of open folders (no recursion by folder depth): a
  // folder's times and its removal come after everything below it.
  const open: Array<{ rec: LsRecord; steps: string[]; children: LsRecord[]; next: number; after: () => void }> = [];
  const enter = (rec: LsRecord, parentSteps: string[], name: string, oldParentIno: number, oldNameHere: string) => {
    const steps = [...parentSteps, name];
    script.cd(parentSteps);
    script.push(`mkdir ${quoteArg(name)}`);
    script.sif(rel(name), 'mode', `0${(rec.mode & 0o177777).toString(8)}`);
    script.sif(rel(name), 'uid', String(rec.uid));
    script.sif(rel(name), 'gid', String(rec.gid));
    // Room for every entry up front: then no `ln` below can meet a full folder.
    const children = tree.get(rec.inode) ?? [];
    for (
      let i = blocksFor(
        children.map((c) => c.name),
        blockSize,
      );
      i > 1;
      i--
    )
      script.push(`expand ${rel(name)}`);
    const after = () => {
      // Times last: adding entries above may have touched them.
      const s = stats.get(rec.inode);
      script.cd(parentSteps);
      if (s) {
        script.sif(rel(name), 'mtime', time(s.mtime));
        script.sif(rel(name), 'atime', time(s.atime));
      }
      script.cd([`<${oldParentIno}>`]);
      script.push(`rmdir ${quoteArg(oldNameHere)}`);
    };
    open.push({ rec, steps, children, next: 0, after });
  };
  enter(record, newParentSteps, newName, oldParent, oldName);
  while (open.length > 0) {
    const top = open[open.length - 1];
    if (top.next >= top.children.length) {
      open.pop();
      top.after();
      continue;
    }
    const child = top.children[top.next++];
    if (isDir(child.mode)) {
      enter(child, top.steps, child.name, top.rec.inode, child.name);
    } else {
      script.cd(top.steps);
      script.push(`ln <${child.inode}> ${quoteArg(child.name)}`);
      script.cd([`<${top.rec.inode}>`]);
      script.push(`unlink ${quoteArg(child.name)}`);
    }
  }
}

async function chmodPath(store: ImageStore, path: string, mode: number): Promise<void> {
  if (!Number.isInteger(mode) || mode < 0 || mode > 0o7777) throw refuse(path, `mode must be 0 to 07777, got ${mode}`);
  const r = await mustResolve(store, path);
  if ((r.record.mode & S_IFMT) === S_IFLNK)
    throw refuse(r.path, 'a symbolic link has no mode of its own (it is always 0777)');
  const script = new Script();
  script.sif(`<${r.record.inode}>`, 'mode', `0${((r.record.mode & S_IFMT) | mode).toString(8)}`);
  await runScript(store, script, `Changing the mode of ${r.path}`);
}

async function chownPath(store: ImageStore, path: string, uid: number, gid: number): Promise<void> {
  for (const id of [uid, gid]) {
    // debugfs parses values with a 32-bit strtoul in this build.
    if (!Number.isInteger(id) || id < 0 || id > 0xffffffff)
      throw refuse(path, `owner ids must be 0 to 4294967295, got ${id}`);
  }
  const r = await mustResolve(store, path);
  const script = new Script();
  script.sif(`<${r.record.inode}>`, 'uid', String(uid));
  script.sif(`<${r.record.inode}>`, 'gid', String(gid));
  await runScript(store, script, `Changing the owner of ${r.path}`);
}

// ---- add ----------------------------------------------------------------------------------

interface AddNode {
  name: string;
  path: string;
  /** null: a folder implied by entries below it. */
  entry: TreeEntry | null;
  children: Map<string, AddNode>;
  /** What is at this path in the image now. */
  existing?: LsRecord;
  /** The inode a written file got (hard links point at it). */
  inode?: number;
}

function addTree(entries: readonly TreeEntry[]): AddNode {
  const root: AddNode = {
    name: '',
    path: '/',
    entry: null,
    children: new Map(),
    existing: { inode: ROOT_INODE, mode: 0o40755, uid: 0, gid: 0, name: '', size: 0 },
  };
  const sorted = [...entries]
    .filter((e) => e.path !== '/')
    .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  for (const e of sorted) {
    const path = checkedImagePath(e.path);
    let node = root;
    const parts = path.split('/').slice(1);
    parts.forEach((name, i) => {
      checkName(path, name);
      let child = node.children.get(name);
      if (!child) {
        child = { name, path: node === root ? `/${name}` : `${node.path}/${name}`, entry: null, children: new Map() };
        node.children.set(name, child);
      } else if (i < parts.length - 1 && child.entry && child.entry.type !== 'directory') {
        throw refuse(path, `${child.path} is not a folder but has entries below it`);
      }
      node = child;
    });
    node.entry = e;
    if (e.type === 'symlink') {
      const why = argumentProblem(e.target ?? '');
      if (why || !e.target) throw refuse(path, why ? `the link target ${why}` : 'a symbolic link needs a target');
    }
  }
  return root;
}

const incomingIsDir = (n: AddNode) => !n.entry || n.entry.type === 'directory';

/**
 * Adds entries at their paths. Existing folders are merged into; anything else already
 * there is refused, or with `replace` deleted first.
 */
async function addEntries(store: ImageStore, entries: readonly TreeEntry[], replace: boolean): Promise<void> {
  const root = addTree(entries);
  if (root.children.size === 0) return;

  // Which paths exist: one listing run per level, only below folders that exist.
  const conflicts: AddNode[] = [];
  const conflictParents = new Map<AddNode, AddNode>();
  let level: AddNode[] = [root];
  while (level.length > 0) {
    const dirs = level.filter((n) => n.existing && isDir(n.existing.mode) && n.children.size > 0);
    const listed = await listInodes(
      store,
      dirs.map((d) => d.existing!.inode),
    );
    const next: AddNode[] = [];
    for (const d of dirs) {
      const byName = new Map((listed.get(d.existing!.inode) ?? []).map((r) => [r.name, r]));
      for (const child of d.children.values()) {
        const rec = byName.get(child.name);
        if (!rec) continue;
        child.existing = rec;
        if (isDir(rec.mode) && incomingIsDir(child)) next.push(child);
        else {
          conflicts.push(child);
          conflictParents.set(child, d);
        }
      }
    }
    level = next;
  }
  if (conflicts.length > 0 && !replace) {
    const hint = 'Choose to replace what is there, or add under another name. Nothing was changed.';
    const problems: InputProblem[] = conflicts.map((c) => ({
      severity: 'error',
      code: 'image-path-exists',
      input: 'image',
      path: c.path,
      message: `${c.path} already exists in the image`,
      hint,
    }));
    const more = conflicts.length > 1 ? ` (and ${conflicts.length - 1} more)` : '';
    throw new EngineFailure({
      code: 'bad-input',
      message: `${conflicts[0].path} already exists in the image${more}.`,
      hint,
      problems,
    });
  }

  const script = new Script();
  for (const c of conflicts) {
    await deleteLines(store, script, conflictParents.get(c)!.existing!.inode, c.name, c.existing!);
    c.existing = undefined;
  }

  // Phase 1: folders, files, symlinks, depth first; hard links wait for their file's inode.
  const files: TreeEntry[] = [];
  const writes = new Map<number, AddNode>();
  const hardlinks: Array<{ node: AddNode; steps: string[] }> = [];
  // Depth first with an explicit stack of open folders (no recursion by folder depth); a new
  // folder's times are set after everything below it was added.
  const open: Array<{ children: Iterator<AddNode>; steps: string[]; after?: () => void }> = [];
  open.push({ children: root.children.values(), steps: [`<${ROOT_INODE}>`] });
  while (open.length > 0) {
    const top = open[open.length - 1];
    const next = top.children.next();
    if (next.done) {
      open.pop();
      top.after?.();
      continue;
    }
    const child = next.value;
    const steps = top.steps;
    const e = child.entry;
    if (child.existing) {
      // A folder that is already there: merge into it, keep its own metadata.
      open.push({ children: child.children.values(), steps: [`<${child.existing.inode}>`] });
      continue;
    }
    const mode = e?.mode ?? 0o755;
    const uid = e?.uid ?? 0;
    const gid = e?.gid ?? 0;
    const owner = () => {
      if (uid !== 0) script.sif(rel(child.name), 'uid', String(uid));
      if (gid !== 0) script.sif(rel(child.name), 'gid', String(gid));
    };
    const times = (t: number) => {
      script.sif(rel(child.name), 'mtime', time(t));
      script.sif(rel(child.name), 'atime', time(t));
    };
    if (!e || e.type === 'directory') {
      script.cd(steps);
      script.push(`mkdir ${quoteArg(child.name)}`);
      if ((mode & 0o7777) !== 0o755) script.sif(rel(child.name), 'mode', `0${(S_IFDIR | (mode & 0o7777)).toString(8)}`);
      owner();
      open.push({
        children: child.children.values(),
        steps: [...steps, child.name],
        after: () => {
          script.cd(steps);
          times(e?.mtime ?? Math.floor(Date.now() / 1000));
        },
      });
    } else if (e.type === 'file') {
      const src = `/src/f${files.length}`;
      files.push({ ...e, path: `/f${files.length}`, mode: e.mode & 0o7777 });
      script.cd(steps);
      writes.set(script.push(`write ${src} ${quoteArg(child.name)}`), child);
      owner();
      times(e.mtime);
    } else if (e.type === 'symlink') {
      script.cd(steps);
      script.push(`symlink ${quoteArg(child.name)} ${quoteArg(e.target!)}`);
      owner();
      times(e.mtime);
    } else {
      hardlinks.push({ node: child, steps });
    }
  }

  const what = `Adding ${entries.length === 1 ? entries[0].path : `${entries.length} entries`}`;
  if (script.lines.length > 0) {
    const run = await runScript(store, script, what, files);
    for (const [line, node] of writes) {
      const body = new TextDecoder().decode(run.sections[line]?.body ?? new Uint8Array(0));
      const m = /Allocated inode: (\d+)/.exec(body);
      if (m) node.inode = Number(m[1]);
    }
  }
  if (hardlinks.length > 0) await addHardlinks(store, root, hardlinks, what);
}

/** Phase 2: hard links to files written in phase 1 (or already in the image), with link counts. */
async function addHardlinks(
  store: ImageStore,
  root: AddNode,
  links: Array<{ node: AddNode; steps: string[] }>,
  what: string,
): Promise<void> {
  const find = (path: string): AddNode | undefined => {
    let n: AddNode | undefined = root;
    for (const name of path.split('/').filter(Boolean)) n = n?.children.get(name);
    return n;
  };
  const counts = new Map<number, number>();
  const script = new Script();
  for (const { node, steps } of links) {
    const targetPath = checkedImagePath(node.entry!.target ?? '');
    let ino = find(targetPath)?.inode;
    let base = 1;
    if (ino === undefined) {
      const r = await resolvePath(store, targetPath).catch(() => null);
      if (!r?.record || (r.record.mode & S_IFMT) !== S_IFREG)
        throw refuse(node.path, `the hard link's file ${targetPath} is not in the image`);
      ino = r.record.inode;
      const st = await statInodes(store, [r.record]);
      base = st.get(ino)?.links ?? 1;
    }
    counts.set(ino, (counts.get(ino) ?? base) + 1);
    script.cd(steps);
    script.room(node.name);
    script.push(`ln <${ino}> ${quoteArg(node.name)}`);
  }
  for (const [ino, n] of counts) script.sif(`<${ino}>`, 'links_count', String(n));
  await runScript(store, script, what);
}
