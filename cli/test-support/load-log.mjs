// `node --import ./load-log.mjs`: appends the URL of every module loaded, in every thread
// (Node runs --import in worker threads too), to the file named by LOAD_LOG.
import { register } from 'node:module';

register('./load-log-hooks.mjs', import.meta.url);
