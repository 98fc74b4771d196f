export * from './machine.ts'
export * from './refs.ts'
export * from './stages.ts'
