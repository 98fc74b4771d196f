export * from './dockerode-host.ts'
export * from './ports.ts'
export * from './refs.ts'
export type * from './types.ts'
