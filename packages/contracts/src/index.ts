export * from './errors.ts'
export * from './health.ts'
export * from './jobs.ts'
export * from './projects.ts'
