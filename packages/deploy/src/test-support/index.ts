export * from './checks.ts'
export * from './gateway.ts'
export * from './load.ts'
export * from './site.ts'
