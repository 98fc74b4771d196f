// The fleet, test databases and demo images without vitest: for benchmarks and scripts.
export * from './fleet.ts'
export * from './images.ts'
export * from './load.ts'
export * from './ports.ts'
export * from './postgres.ts'
export * from './private-postgres.ts'
export * from './registry-image.ts'
export * from './report.ts'
