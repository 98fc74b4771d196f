import https from 'node:https'
import { gunzipSync } from 'node:zlib'
import type { Fleet } from './fleet.ts'

/** GET from the fleet's registry (TLS with the fleet CA, basic auth). */
export function registryGet(fleet: Fleet, pathname: string, accept?: string): Promise<Buffer> {
  const auth = Buffer.from(`${fleet.registry.username}:${fleet.registry.password}`).toString('base64')
  return new Promise((resolve, reject) => {
    const request = https.get(
      `https://${fleet.registry.url}${pathname}`,
      {
        headers: { authorization: `Basic ${auth}`, ...(accept ? { accept } : {}) },
        ca: fleet.tls.ca,
        signal: AbortSignal.timeout(30_000),
      },
      (response) => {
        const chunks: Buffer[] = []
        response.on('data', (chunk: Buffer) => chunks.push(chunk))
        response.on('end', () =>
          response.statusCode === 200
            ? resolve(Buffer.concat(chunks))
            : reject(new Error(`GET ${pathname}: ${response.statusCode}`)),
        )
        response.on('error', reject)
      },
    )
    request.once('error', reject)
  })
}

/**
 * The manifest, config (with its history) and every layer (decompressed) of
 * repository@digest, as the fleet's registry holds them: what anyone pulling the image gets.
 */
export async function pulledFromRegistry(fleet: Fleet, repository: string, digest: string) {
  const manifest = JSON.parse(
    (
      await registryGet(
        fleet,
        `/v2/${repository}/manifests/${digest}`,
        'application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json',
      )
    ).toString('utf8'),
  ) as { config: { digest: string }; layers: { digest: string }[] }
  const config = await registryGet(fleet, `/v2/${repository}/blobs/${manifest.config.digest}`)
  const layers = await Promise.all(
    manifest.layers.map(async (layer) =>
      gunzipSync(await registryGet(fleet, `/v2/${repository}/blobs/${layer.digest}`)),
    ),
  )
  return { manifest, config, layers }
}
