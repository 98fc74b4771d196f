import { defineConfig } from 'vitest/config'

// Two files at a time: each test has its own database (from the template) and Redis prefix,
// and the suite waits on PostgreSQL more than it computes (157 s with one worker, 110 s with
// two on the 2-core machine). Files share one module graph per worker (isolate: false): no
// test mocks modules, and each file no longer pays the imports again (143 s -> 93 s).
export default defineConfig({
  test: { testTimeout: 120_000, hookTimeout: 60_000, maxWorkers: 2, isolate: false },
})
