/**
 * Real Nix binary caches for tests, made by Debian's nix-bin from a closure in a private
 * store (`nix copy --to file://…?compression=…&secret-key=…`), and a small HTTP server on
 * 127.0.0.1 that serves them with CORS headers, plus the broken variants the refusal tests
 * need (each a copy of a real cache, changed one way).
 */
import { cpSync, existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, normalize } from 'node:path';
import { nixOk, type NixClosure } from './nix-closure.ts';

export interface TestCaches {
  /** Folder holding one folder per cache. */
  root: string;
  /** `test-cache-1:…`, trusted by the tests. */
  publicKey: string;
  /** `other-cache-1:…`, signs the `untrusted` cache. */
  otherPublicKey: string;
  /** Cache folder names. */
  names: string[];
}

const NIX = ['--extra-experimental-features', 'nix-command', '--option', 'substituters', ''];

function copyTo(c: NixClosure, dir: string, query: string, paths: string[]): void {
  nixOk('nix', [...NIX, 'copy', '--from', c.storeUri, '--to', `file://${dir}?${query}`, ...paths]);
}

/** The narinfo file of a store path in a cache folder. */
export const narinfoFile = (cacheDir: string, storePath: string) =>
  join(cacheDir, `${storePath.slice('/nix/store/'.length, '/nix/store/'.length + 32)}.narinfo`);

/** Rewrites fields of a narinfo (`undefined` removes the field). */
export function editNarinfo(cacheDir: string, storePath: string, edit: Record<string, string | undefined>): void {
  const f = narinfoFile(cacheDir, storePath);
  const lines = readFileSync(f, 'utf8').split('\n').filter(Boolean);
  const out: string[] = [];
  for (const l of lines) {
    const key = l.slice(0, l.indexOf(':'));
    if (key in edit) {
      if (edit[key] !== undefined) out.push(`${key}: ${edit[key]}`);
    } else out.push(l);
  }
  writeFileSync(f, out.join('\n') + '\n');
}

/** A field of a narinfo. */
export function narinfoField(cacheDir: string, storePath: string, key: string): string {
  const line = readFileSync(narinfoFile(cacheDir, storePath), 'utf8')
    .split('\n')
    .find((l) => l.startsWith(`${key}: `));
  if (line === undefined) throw new Error(`no ${key} in the narinfo of ${storePath}`);
  return line.slice(key.length + 2);
}

/**
 * Makes the caches under `root`: `xz`, `zstd`, `bzip2`, `none` (whole closure, signed),
 * `partial` (only `single.txt` and `alink`, signed), `untrusted` (signed by another key),
 * `unsigned`, `tampered-narhash` (libdemo's NarHash changed), `bad-nar` (libdemo's NAR
 * replaced by tool's, FileHash/FileSize adjusted: the signature still holds), `missing`
 * (tool's narinfo deleted), `filesize-lies` (libdemo's FileSize smaller), `short-nar` (libdemo's
 * NAR cut in half).
 */
export function makeTestCaches(c: NixClosure, root: string): TestCaches {
  const sk = join(root, 'test.sk');
  const pk = join(root, 'test.pk');
  const osk = join(root, 'other.sk');
  const opk = join(root, 'other.pk');
  nixOk('nix-store', ['--generate-binary-cache-key', 'test-cache-1', sk, pk]);
  nixOk('nix-store', ['--generate-binary-cache-key', 'other-cache-1', osk, opk]);
  const tops = [c.named.env, c.named.chain];
  for (const comp of ['xz', 'zstd', 'bzip2', 'none'])
    copyTo(c, join(root, comp), `compression=${comp}&secret-key=${sk}`, tops);
  copyTo(c, join(root, 'partial'), `compression=xz&secret-key=${sk}`, [c.named.single, c.named.alink]);
  copyTo(c, join(root, 'untrusted'), `compression=xz&secret-key=${osk}`, tops);
  copyTo(c, join(root, 'unsigned'), 'compression=xz', tops);
  const variant = (name: string) => {
    cpSync(join(root, 'xz'), join(root, name), { recursive: true });
    return join(root, name);
  };
  const lib = c.named.lib;
  const tampered = variant('tampered-narhash');
  editNarinfo(tampered, lib, { NarHash: narinfoField(tampered, c.named.tool, 'NarHash') });

  const badNar = variant('bad-nar');
  const libUrl = narinfoField(badNar, lib, 'URL');
  const toolUrl = narinfoField(badNar, c.named.tool, 'URL');
  cpSync(join(badNar, toolUrl), join(badNar, libUrl));
  editNarinfo(badNar, lib, {
    FileHash: narinfoField(badNar, c.named.tool, 'FileHash'),
    FileSize: narinfoField(badNar, c.named.tool, 'FileSize'),
  });

  const missing = variant('missing');
  rmSync(narinfoFile(missing, c.named.tool));

  const lies = variant('filesize-lies');
  editNarinfo(lies, lib, { FileSize: String(Number(narinfoField(lies, lib, 'FileSize')) - 100) });

  const short = variant('short-nar');
  const nar = join(short, narinfoField(short, lib, 'URL'));
  const bytes = readFileSync(nar);
  writeFileSync(nar, bytes.subarray(0, bytes.length >> 1));

  return {
    root,
    publicKey: readFileSync(pk, 'utf8').trim(),
    otherPublicKey: readFileSync(opk, 'utf8').trim(),
    names: readdirSync(root).filter((n) => statSync(join(root, n)).isDirectory()),
  };
}

export interface CacheServer {
  /** `http://127.0.0.1:PORT` */
  origin: string;
  /** URL of a cache folder. */
  url(name: string): string;
  /** URL of a cache that answers every request with an HTML page. */
  htmlUrl: string;
  /** URL of a cache whose every answer redirects to itself. */
  loopUrl: string;
  /** URL of the `xz` cache whose NAR downloads break off halfway (Content-Length promises all). */
  brokenUrl: string;
  /** URL of the `xz` cache whose NAR downloads stall until the client gives up (for cancelling). */
  slowUrl: string;
  /** Requests served, by path. */
  requests: string[];
  close(): Promise<void>;
}

/** Serves `root` on 127.0.0.1 (`port` 0: any free port) with `Access-Control-Allow-Origin: *`. */
export async function serveTestCaches(root: string, port = 0): Promise<CacheServer> {
  const requests: string[] = [];
  const server: Server = createServer((req, res) => {
    const path = decodeURIComponent((req.url ?? '/').split('?')[0]);
    requests.push(path);
    res.setHeader('Access-Control-Allow-Origin', '*');
    if (path.startsWith('/html/')) {
      res.writeHead(200, { 'Content-Type': 'text/html' });
      res.end('<!DOCTYPE html><html><body><h1>Welcome</h1></body></html>\n');
      return;
    }
    if (path.startsWith('/loop/')) {
      res.writeHead(302, { Location: req.url });
      res.end();
      return;
    }
    let mode: 'plain' | 'broken' | 'slow' = 'plain';
    let rel = path;
    if (path.startsWith('/broken/')) {
      mode = 'broken';
      rel = path.slice('/broken'.length);
    } else if (path.startsWith('/slow/')) {
      mode = 'slow';
      rel = path.slice('/slow'.length);
    }
    const file = normalize(join(root, rel));
    if (!file.startsWith(root + '/') || !existsSync(file) || !statSync(file).isFile()) {
      res.writeHead(404, { 'Content-Type': 'text/plain' });
      res.end('404\n');
      return;
    }
    const body = readFileSync(file);
    const type = file.endsWith('.narinfo')
      ? 'text/x-nix-narinfo'
      : file.endsWith('nix-cache-info')
        ? 'text/x-nix-cache-info'
        : 'application/x-nix-nar';
    if (mode !== 'plain' && file.includes('/nar/')) {
      res.writeHead(200, { 'Content-Type': type, 'Content-Length': String(body.length) });
      if (mode === 'broken') {
        res.write(body.subarray(0, body.length >> 1), () => res.destroy());
      } else {
        res.write(body.subarray(0, 8));
        // Stalls: the client cancels, or the server's close() ends it.
      }
      return;
    }
    res.writeHead(200, { 'Content-Type': type, 'Content-Length': String(body.length) });
    res.end(body);
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    origin,
    url: (name) => `${origin}/${name}`,
    htmlUrl: `${origin}/html/cache`,
    loopUrl: `${origin}/loop/cache`,
    brokenUrl: `${origin}/broken/xz`,
    slowUrl: `${origin}/slow/xz`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
