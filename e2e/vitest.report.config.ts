import { defineConfig } from 'vitest/config'

// The report-only rows of docs/RELIABILITY.md (faults, load): too long for every CI run, run
// by `./slipway report` after the README's test suite. One file at a time, tests in order.
export default defineConfig({
  test: {
    include: ['src/report/**/*.report.test.ts'],
    testTimeout: 600_000,
    hookTimeout: 180_000,
    fileParallelism: false,
    setupFiles: ['src/setup.ts'],
  },
})
