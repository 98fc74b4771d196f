import type { Project } from '@slipway/contracts'
import { lazy, Suspense } from 'react'
import { useProjectEvents } from '../api/live.ts'
import { useProject } from '../api/queries.ts'
import { usePermissions } from '../app/permissions.ts'
import { matchRoute } from '../app/router.tsx'
import { Alert, Async, ErrorBoundary, Loading } from '../ui/Async.tsx'
import { Tabs } from '../ui/Layout.tsx'
import { ProjectContext } from './project-scope.tsx'

const Overview = lazy(() => import('./ProjectOverview.tsx'))
const Pipelines = lazy(() => import('./Pipelines.tsx'))
const PipelinePage = lazy(() => import('./PipelinePage.tsx'))
const EnvironmentPage = lazy(() => import('./EnvironmentPage.tsx'))
const Settings = lazy(() => import('../settings/ProjectSettings.tsx'))
const Audit = lazy(() => import('./Audit.tsx'))

function ProjectPages({ project, rest }: { project: Project; rest: string }) {
  const live = useProjectEvents(project.id)
  const can = usePermissions(project.id)
  const path = `/${rest}`
  const base = `/p/${project.slug}`
  const pipeline = matchRoute('/pipelines/:id', path)
  const env = matchRoute('/environments/:env', path)
  const settings = matchRoute('/settings/*', path)
  let page = <Alert tone="warn">There is no such page in this project.</Alert>
  let tab = base
  if (path === '/') page = <Overview />
  else if (path === '/pipelines') {
    page = <Pipelines />
    tab = `${base}/pipelines`
  } else if (pipeline) {
    page = <PipelinePage id={pipeline.id!} />
    tab = `${base}/pipelines`
  } else if (env) page = <EnvironmentPage name={env.env!} />
  else if (settings) {
    page = <Settings section={settings.rest || 'general'} />
    tab = `${base}/settings`
  } else if (path === '/audit') {
    page = <Audit />
    tab = `${base}/audit`
  }
  const tabs = [
    { to: base, label: 'Overview' },
    { to: `${base}/pipelines`, label: 'Pipelines' },
    { to: `${base}/settings`, label: 'Settings' },
    ...(can.project('audit.read').allowed ? [{ to: `${base}/audit`, label: 'Audit log' }] : []),
  ]
  return (
    <ProjectContext.Provider value={{ project, live }}>
      <Tabs items={tabs} current={tab} />
      <ErrorBoundary resetKey={path}>
        <Suspense fallback={<Loading what="Loading the page" />}>{page}</Suspense>
      </ErrorBoundary>
    </ProjectContext.Provider>
  )
}

export default function ProjectLayout({ slug, rest }: { slug: string; rest: string }) {
  const project = useProject(slug)
  return (
    <Async resource={project} what={`project ${slug}`}>
      {(data) => <ProjectPages project={data} rest={rest} />}
    </Async>
  )
}
