export * from './outbox.ts'
export * from './queues.ts'
