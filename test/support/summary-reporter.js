// Prints the closing line CI reads, "N passed, N failed", and keeps it in .test-results/summary
// so .ci/run can print it last, after anything the global teardown writes.
const { mkdirSync, writeFileSync } = require('node:fs');
const { join } = require('node:path');

class SummaryReporter {
  constructor(globalConfig) {
    this.rootDir = globalConfig.rootDir;
  }

  onRunComplete(_contexts, results) {
    const failed = results.numFailedTests + results.numRuntimeErrorTestSuites;
    const line = `${results.numPassedTests} passed, ${failed} failed`;
    const dir = join(this.rootDir, '.test-results');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'summary'), `${line}\n`);
    process.stdout.write(`\n${line}\n`);
  }
}
module.exports = SummaryReporter;
