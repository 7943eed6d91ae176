/**
 * The Python client (python/ohem_ref.py) as a porter uses it: the pytest example of a torch
 * project (examples/pytest/) checks its own roi_pool and nms against the reference server and the
 * golden set with Debian's /usr/bin/python3 (torch, torchvision, pytest). In CI (CI=true) a
 * missing torch or pytest is a failure.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const PY = '/usr/bin/python3';

const available = (): string | null => {
  if (!existsSync(PY)) return `${PY} is missing`;
  const r = spawnSync(PY, ['-c', 'import torch, torchvision, pytest, numpy'], { encoding: 'utf8' });
  return r.status === 0 ? null : `${PY} cannot import torch, torchvision, pytest: ${r.stderr.trim().split('\n').pop()}`;
};

test('the pytest example runs green against the reference server (python/ohem_ref.py spawns it)', (t) => {
  const why = available();
  if (why) {
    if (process.env.CI === 'true') assert.fail(`required in CI: ${why}`);
    t.diagnostic(`not run outside CI: ${why}`);
    return;
  }
  const r = spawnSync(PY, ['-m', 'pytest', '-q', '-p', 'no:cacheprovider', 'examples/pytest'], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 300_000,
    env: { ...process.env, OHEM_REF_COMMAND: `${process.execPath} bin/ohem-ref.mjs serve` },
  });
  const tail = `${r.stdout}\n${r.stderr}`.trim().split('\n').slice(-15).join('\n');
  assert.equal(r.status, 0, tail);
  const m = /(\d+) passed/.exec(r.stdout);
  assert.ok(m && Number(m[1]) >= 50, `too few passed:\n${tail}`);
  assert.doesNotMatch(r.stdout, /\d+ failed|\d+ error/, tail);
});
