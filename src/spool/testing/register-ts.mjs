// `node --import ./register-ts.mjs script.ts`: runs this project's TypeScript sources in a plain
// node child, without a build, so the kill -9 test exercises the code under test and not a stale
// dist/. Test support only; Node 20.6+ (module.register).
import { register } from 'node:module';

register('./ts-hooks.mjs', import.meta.url);
