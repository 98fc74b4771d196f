import { defineConfig } from 'vitest/config'

export default defineConfig({
  // Test files share the fleet's hosts and measure failed requests under load: one at a time,
  // in one module graph (isolate: false; no test mocks modules).
  test: { testTimeout: 240_000, hookTimeout: 60_000, fileParallelism: false, isolate: false },
})
