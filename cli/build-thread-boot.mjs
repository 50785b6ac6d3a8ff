// Worker-thread entry of `disk-image-studio build` when running from the TypeScript sources:
// cli/main.ts starts the build when loaded in the thread it made.
import { register } from 'tsx/esm/api';

register();
await import('./main.ts');
