import { isIP } from 'node:net'
import { AppError } from '@slipway/core'

/**
 * Every value the gateway puts into a Redis key, a HAProxy config or a Runtime API command
 * goes through one of these checks first. Slugs have no `_`, so `{project}_{environment}` is
 * unambiguous.
 */
const slugPattern = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/
/** Instance ids and Docker host names: Docker's container-name alphabet. */
const tokenPattern = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/

function reject(field: string, value: unknown, rule: string): never {
  throw new AppError('VALIDATION_FAILED', `${field} ${JSON.stringify(value)} is invalid: ${rule}`, {
    details: { field },
  })
}

export function assertSlug(field: string, value: unknown): string {
  if (typeof value !== 'string' || !slugPattern.test(value))
    reject(field, value, 'expected lowercase letters, digits and inner hyphens (at most 63)')
  return value
}

export function assertToken(field: string, value: unknown): string {
  if (typeof value !== 'string' || !tokenPattern.test(value))
    reject(field, value, 'expected letters, digits, "_", "." or "-" (at most 128, alphanumeric first)')
  return value
}

export function assertPort(field: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > 65535)
    reject(field, value, 'expected an integer port between 1 and 65535')
  return value
}

/** HAProxy's server weight: an integer 0..256. */
export function assertWeight(field: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 256)
    reject(field, value, 'expected an integer weight between 0 and 256')
  return value
}

/** A secret as the gateway keeps one: lowercase hex, 32 to 128 digits. */
export function assertSecret(field: string, value: unknown): string {
  if (typeof value !== 'string' || !/^[0-9a-f]{32,128}$/.test(value))
    reject(field, '(hidden)', 'expected 32 to 128 lowercase hex digits')
  return value
}

/** An IPv4 or IPv6 literal (no names: HAProxy would resolve them once, at load time). */
export function assertAddress(field: string, value: unknown): string {
  if (typeof value !== 'string' || isIP(value) === 0) reject(field, value, 'expected an IPv4 or IPv6 address')
  return value
}

/** `{project}_{environment}`: the article 001 directory name of a site. */
export function siteKey(project: string, environment: string): string {
  return `${assertSlug('project', project)}_${assertSlug('environment', environment)}`
}

/** `{host}-{port}`: the article 001 key of one instance inside its site. */
export function memberKey(host: string, port: number): string {
  return `${assertToken('host', host)}-${assertPort('port', port)}`
}
