#!/usr/bin/env node
// The `ohem-ref` command. The TypeScript sources are the truth: run them through tsx when they are
// here (a checkout), else the compiled dist/ (a package installed without sources).
import { existsSync } from 'node:fs';

const src = new URL('../src/cli.ts', import.meta.url);
const dist = new URL('../dist/cli.js', import.meta.url);
if (existsSync(src)) {
  const { register } = await import('tsx/esm/api');
  register();
  await import(src.href);
} else if (existsSync(dist)) {
  await import(dist.href);
} else {
  process.stderr.write('ohem-ref: neither src/cli.ts nor dist/cli.js is present; reinstall the package\n');
  process.exit(2);
}
