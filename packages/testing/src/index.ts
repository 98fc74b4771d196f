export * from './fixtures.ts'
export * from './fleet.ts'
export * from './images.ts'
export * from './postgres.ts'
