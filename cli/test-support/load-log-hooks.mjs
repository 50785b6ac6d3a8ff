// Module hooks of load-log.mjs: one line per module load, `<url>\n`, appended to LOAD_LOG.
import { appendFileSync } from 'node:fs';

export async function load(url, context, next) {
  appendFileSync(process.env.LOAD_LOG, `${url}\n`);
  return next(url, context);
}
