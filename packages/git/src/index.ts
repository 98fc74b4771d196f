export * from './checkout.ts'
export { type GitEnv, maskUrl } from './git.ts'
export * from './remote.ts'
export * from './url.ts'
