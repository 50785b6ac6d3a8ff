/**
 * The reader worker of `blob-read-ahead.ts`: reads the Blob ranges it is sent, in order, with
 * a few asynchronous reads in flight, into the shared ring (`read-ahead-ring.ts`). It stops at
 * the first read that fails (the consumer then reads from there itself, and names the file),
 * and is terminated by its owner when the program's run ends or is aborted.
 */
import { Control, type ReadAheadItem, ReadAheadPlanner, type ReadJob } from './read-ahead-ring.ts';

/** Reads in flight at once. */
const IN_FLIGHT = 4;
/** Most bytes of one read (consecutive files of one Blob are read together). */
const READ_MAX = 2 << 20;

type Message =
  | { type: 'start'; ring: SharedArrayBuffer; control: SharedArrayBuffer; pieceSize: number }
  | { type: 'items'; items: ReadAheadItem[] }
  | { type: 'ping' }
  | { type: 'stop' };

let planner: ReadAheadPlanner | undefined;
let control: Int32Array | undefined;
let inFlight = 0;
let waiting = false;

/** A range of a Blob; a whole Blob as it is (slicing costs about as much as reading, in Chromium). */
const range = (p: { blob: Blob; start: number; end: number }): Blob =>
  p.start === 0 && p.end === p.blob.size ? p.blob : p.blob.slice(p.start, p.end);

/** A job's bytes in one read: several ranges (e.g. separate small Files) joined into one Blob. */
const read = (job: ReadJob): Promise<ArrayBuffer> =>
  (job.parts.length === 1 ? range(job.parts[0]) : new Blob(job.parts.map(range))).arrayBuffer();

/** Waits (without blocking the thread) for the consumer to release room in the ring. */
function waitForRoom(p: ReadAheadPlanner, c: Int32Array): void {
  if (waiting) return;
  waiting = true;
  const again = () => {
    waiting = false;
    pump();
  };
  const w = (
    Atomics as {
      waitAsync?: (
        a: Int32Array,
        i: number,
        v: number,
        t: number,
      ) => { async: boolean; value: Promise<string> | string };
    }
  ).waitAsync;
  if (typeof w !== 'function') {
    setTimeout(again, 2);
    return;
  }
  const word = p.beforeWaitingForRoom();
  if (word === undefined) {
    setTimeout(again, 0);
    return;
  }
  const r = w(c, Control.released, word, 1000);
  if (r.async) void (r.value as Promise<string>).then(again);
  else setTimeout(again, 0);
}

function pump(): void {
  const p = planner;
  if (!p || !control) return;
  try {
    while (inFlight < IN_FLIGHT) {
      const job = p.next();
      if (!job) break;
      inFlight++;
      read(job).then(
        (buffer) => {
          inFlight--;
          try {
            p.complete(job, new Uint8Array(buffer));
          } catch {
            // A defect: the consumer reads from this read on itself.
            p.fail(job);
            return;
          }
          pump();
        },
        () => {
          inFlight--;
          p.fail(job);
        },
      );
    }
    if (p.waitingForRoom) waitForRoom(p, control);
  } catch {
    // A defect here must not leave the consumer waiting: it reads everything from here itself.
    p.stop();
  }
}

let port: MessagePort | undefined;

const onMessage = (e: MessageEvent<Message>) => {
  const m = e.data;
  if (m.type === 'ping') {
    port?.postMessage({ type: 'pong' });
    return;
  }
  if (m.type === 'stop') {
    planner?.stop();
    planner = undefined;
    return;
  }
  if (m.type === 'start') {
    control = new Int32Array(m.control);
    planner = new ReadAheadPlanner(new Uint8Array(m.ring), control, m.pieceSize, READ_MAX);
  } else if (m.type === 'items') planner?.add(m.items);
  pump();
};

// The owner talks through a port (see blob-read-ahead.ts); only the port comes the plain way.
self.onmessage = (e: MessageEvent<{ type: 'port'; port: MessagePort }>) => {
  port = e.data.port;
  port.onmessage = onMessage;
  port.postMessage({ type: 'ready' });
};
