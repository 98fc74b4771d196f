import { beforeEach } from 'vitest'
import { setTestFailed } from './failures.ts'

// Setup file of every e2e test file: remembers a failed test for the stack's stop().
setTestFailed(false)
beforeEach((context) => {
  context.onTestFailed(() => setTestFailed(true))
})
