#!/usr/bin/env node
// The compiled CLI; `npm install` / `npm ci` builds dist/ through the `prepare` script.
import('../dist/src/cli/main.js').catch((err) => {
  if (err && err.code === 'ERR_MODULE_NOT_FOUND' && String(err.message).includes('dist/src/cli/main.js')) {
    console.error('citypipe is not built yet: run `npm run build` (npm install runs it for you).');
    process.exit(1);
  }
  throw err;
});
