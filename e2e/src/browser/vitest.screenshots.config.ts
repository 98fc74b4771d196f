import { defineConfig } from 'vitest/config'

// `pnpm --filter @slipway/e2e screenshots`: refreshes docs/screenshots/ (not part of `test`).
export default defineConfig({
  test: { include: ['src/browser/screenshots.shot.ts'], testTimeout: 300_000, hookTimeout: 400_000 },
})
