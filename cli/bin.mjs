#!/usr/bin/env node
// Entry point of the `disk-image-studio` command: loads the TypeScript sources through tsx.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('./main.ts');
const controller = new AbortController();
// First Ctrl-C cancels at the next safe point (no partial output is left); a second one exits at once.
process.once('SIGINT', () => {
  controller.abort();
  process.once('SIGINT', () => process.exit(130));
});
process.exitCode = await main(process.argv.slice(2), undefined, controller.signal);
