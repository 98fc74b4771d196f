export * from './checkout.ts'
export { maskUrl } from './git.ts'
export * from './remote.ts'
export * from './url.ts'
