// @slipway/testing's entry point sets up vitest fixtures at import, which fails outside vitest;
// its fleet and image helpers do not need vitest, so the benchmark imports them directly.

export { fleet } from '../../packages/testing/src/fleet.ts'
export { demoImage } from '../../packages/testing/src/images.ts'
