// The fleet and demo images, without vitest (the benchmark runs outside it).
export { createTestDatabase, demoImage, fleet } from '@slipway/testing/services'
