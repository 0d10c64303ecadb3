// The npm registry reachable here serves only the linux-x64 builds of packages that ship one
// optional package per platform (@swc/core, chdb, msgpackr-extract). `npm install` then leaves
// the other platforms' entries out of package-lock.json, and `npm ci` refuses the lock as out of
// sync. This adds those entries, marked optional with their os/cpu, so `npm ci` skips them on
// this platform without fetching. Run after `npm install`: node tools/lock-platform-optionals.mjs
import { readFileSync, writeFileSync } from 'node:fs';

const lockPath = new URL('../package-lock.json', import.meta.url);
const lock = JSON.parse(readFileSync(lockPath, 'utf8'));
const packages = lock.packages;

function platformOf(name) {
  const os = ['darwin', 'win32', 'linux', 'freebsd', 'android'].find((o) => name.includes(o));
  const cpu = ['arm64', 'x64', 'ia32', 'arm', 'ppc64', 's390x', 'riscv64'].find((c) =>
    new RegExp(`[-_]${c}([-_]|$)`).test(name),
  );
  return { os: os ? [os] : undefined, cpu: cpu ? [cpu] : undefined };
}

let added = 0;
for (const [path, entry] of Object.entries(packages)) {
  for (const [dep, version] of Object.entries(entry.optionalDependencies ?? {})) {
    const base = path === '' ? '' : `${path}/`;
    const nested = `${base}node_modules/${dep}`;
    const hoisted = `node_modules/${dep}`;
    if (packages[nested] || packages[hoisted]) continue;
    const { os, cpu } = platformOf(dep);
    if (!os && !cpu) continue; // not a per-platform build: leave it to npm
    packages[hoisted] = { version, optional: true, ...(os && { os }), ...(cpu && { cpu }) };
    added += 1;
  }
}
writeFileSync(lockPath, `${JSON.stringify(lock, null, 2)}\n`);
console.log(`added ${added} platform-specific optional entries`);
