import type { Project } from '@slipway/contracts'
import { createContext, useContext } from 'react'
import type { LiveState } from '../api/live.ts'

/**
 * What a project's pages share: the project and its live connection. Provided by
 * ProjectLayout, read by the pages it shows; kept apart from the layout so the pages do not
 * import the module that imports them.
 */
interface ProjectScope {
  project: Project
  live: LiveState
}

export const ProjectContext = createContext<ProjectScope | null>(null)

/** The project whose pages are shown (inside a project's pages only). */
export function useProjectScope(): ProjectScope {
  const scope = useContext(ProjectContext)
  if (!scope) throw new Error('useProjectScope outside a project')
  return scope
}

export function LiveIndicator({ state }: { state: LiveState }) {
  const text = { connecting: 'connecting…', live: 'live', reconnecting: 'reconnecting…' }[state]
  return (
    <span className="live-dot" data-state={state} role="status">
      {text}
    </span>
  )
}
