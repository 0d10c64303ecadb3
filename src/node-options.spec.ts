import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SLUICE_NODE_OPTIONS, sluiceNodeOptions } from './node-options';

const repo = join(__dirname, '..');

describe('Sluice node options', () => {
  it('puts the defaults first so a caller’s own flag wins', () => {
    expect(sluiceNodeOptions(undefined)).toBe(SLUICE_NODE_OPTIONS);
    expect(sluiceNodeOptions('  ')).toBe(SLUICE_NODE_OPTIONS);
    expect(sluiceNodeOptions('--max-semi-space-size=16')).toBe(
      `${SLUICE_NODE_OPTIONS} --max-semi-space-size=16`,
    );
  });

  // npm start and the image cannot import the constant: they repeat its text.
  it('is what npm start and the image run with', () => {
    const pkg = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')) as {
      scripts: Record<string, string>;
    };
    expect(pkg.scripts.start).toContain(`node ${SLUICE_NODE_OPTIONS} dist/src/main.js`);
    const dockerfile = readFileSync(join(repo, 'deploy', 'Dockerfile'), 'utf8');
    expect(dockerfile).toContain(`NODE_OPTIONS=${SLUICE_NODE_OPTIONS}`);
  });
});
