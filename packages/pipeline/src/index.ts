export * from './refs.ts'
export * from './stages.ts'
