import * as Comlink from 'comlink';

/**
 * The page's end of an output stream: runs `sink`, then gives the chunk's memory back to
 * the engine (transferred), which copies a later chunk into it instead of into new memory.
 * `sink` must be done with the chunk when it settles.
 */
export function handingBack(
  sink: (chunk: Uint8Array) => Promise<void> | void,
): (chunk: Uint8Array) => Promise<ArrayBuffer | undefined> {
  return async (chunk) => {
    await sink(chunk);
    const { buffer } = chunk;
    // Chunks arrive transferred, each in an ArrayBuffer of its own; anything else stays here.
    if (!(buffer instanceof ArrayBuffer) || buffer.byteLength === 0) return undefined;
    return Comlink.transfer(buffer, [buffer]);
  };
}
