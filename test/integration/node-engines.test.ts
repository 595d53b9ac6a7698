import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import semver from 'semver';

const read = (path: string) => readFileSync(new URL(`../../../${path}`, import.meta.url), 'utf8');

/** The Node versions the README states against what the installed dependencies declare. */
describe('Node versions', () => {
  const readme = read('README.md');
  const recommended = /Needs Node\.js (\d+\.\d+(?:\.\d+)?) or newer/.exec(readme)?.[1];
  const runsOn = /also runs on Node\.js (\d+\.\d+(?:\.\d+)?)\+/.exec(readme)?.[1];
  const lock = JSON.parse(read('package-lock.json')) as {
    packages: Record<string, { engines?: { node?: string } }>;
  };
  const declared = Object.entries(lock.packages).filter(([name, p]) => name !== '' && p.engines?.node);

  it('the README says which Node the dependencies need, and which it also runs on', () => {
    assert.ok(recommended && runsOn, 'README: "Needs Node.js X or newer" and "also runs on Node.js Y+"');
  });

  it('every installed package accepts the Node the README recommends (no EBADENGINE there)', () => {
    const version = semver.coerce(recommended)!.version;
    const refusing = declared.filter(([, p]) => !semver.satisfies(version, p.engines!.node!));
    assert.deepEqual(
      refusing.map(([name, p]) => `${name} ${p.engines?.node}`),
      [],
      `these need more than Node ${version}: raise the README's version, or pick other versions`,
    );
  });

  it("package.json's engines is the oldest Node the README says it runs on", () => {
    const engines = (JSON.parse(read('package.json')) as { engines: { node: string } }).engines.node;
    assert.equal(semver.minVersion(engines)?.version, semver.coerce(runsOn)!.version);
  });
});
