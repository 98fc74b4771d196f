export * from './credentials.ts'
export * from './grants.ts'
export * from './protected.ts'
export * from './rules.ts'
