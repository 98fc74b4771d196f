export * from './credentials.ts'
export * from './grants.ts'
export * from './rules.ts'
