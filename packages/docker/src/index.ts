export * from './dockerode-host.ts'
export * from './pool.ts'
export * from './refs.ts'
export * from './types.ts'
