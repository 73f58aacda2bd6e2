#!/usr/bin/env node
// `npx api-billing`: runs the TypeScript CLI through tsx, which the project installs.
require('tsx/cjs');
require('./main.ts').main();
