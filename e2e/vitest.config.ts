import { defineConfig } from 'vitest/config'

// Whole-product tests: real API and worker processes over the real fleet. Files run one at a
// time (they share the build host and the CPU), tests inside a file run in order. The rows
// too long for CI (src/report/) run only in `./slipway report` (vitest.report.config.ts).
// Files share one module graph (isolate: false; no test mocks modules, each starts its own stack).
export default defineConfig({
  test: {
    testTimeout: 240_000,
    hookTimeout: 120_000,
    fileParallelism: false,
    isolate: false,
    setupFiles: ['src/setup.ts'],
    exclude: ['**/node_modules/**', 'src/report/**'],
  },
})
