/**
 * The additional authenticated data each encrypted column is sealed with: an envelope only
 * decrypts for the row and field it was written for (see @slipway/core secrets).
 */
export const secretContext = {
  registryPassword: (registryId: string) => `registry:${registryId}:password`,
  hostTlsKey: (hostId: string) => `host:${hostId}:tlsKey`,
  projectWebhookSecret: (projectId: string) => `project:${projectId}:webhookSecret`,
  projectGitlabToken: (projectId: string) => `project:${projectId}:gitlabToken`,
  projectGitCredentials: (projectId: string) => `project:${projectId}:gitCredentials`,
  projectBuildSecret: (projectId: string, name: string) => `project:${projectId}:buildSecret:${name}`,
  configSecret: (environmentId: string, key: string) => `env:${environmentId}:secret:${key}`,
  notificationHookSecret: (hookId: string) => `hook:${hookId}:secret`,
}
