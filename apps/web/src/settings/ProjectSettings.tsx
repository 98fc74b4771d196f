import type { ReactNode } from 'react'
import { useProjectScope } from '../pages/project-scope.tsx'
import { Alert } from '../ui/Async.tsx'
import { PageHeader, Tabs } from '../ui/Layout.tsx'
import { ConfigSettings } from './ConfigSettings.tsx'
import { EnvironmentSettings } from './EnvironmentSettings.tsx'
import { GeneralSettings } from './GeneralSettings.tsx'
import { GrantSettings } from './GrantSettings.tsx'
import { HookSettings } from './HookSettings.tsx'
import { MemberSettings } from './MemberSettings.tsx'
import { WebhookSettings } from './WebhookSettings.tsx'

const sections = [
  ['general', 'Project, build and app spec'],
  ['environments', 'Environments'],
  ['config', 'Config and secrets'],
  ['members', 'Members'],
  ['grants', 'Grants'],
  ['webhook', 'GitLab webhook'],
  ['notifications', 'Notification hooks'],
] as const

/** The project's settings, one section per tab. */
export default function ProjectSettings({ section }: { section: string }) {
  const { project } = useProjectScope()
  const base = `/p/${project.slug}/settings`
  const pages: Record<string, () => ReactNode> = {
    general: () => <GeneralSettings />,
    environments: () => <EnvironmentSettings />,
    config: () => <ConfigSettings />,
    members: () => <MemberSettings />,
    grants: () => <GrantSettings />,
    webhook: () => <WebhookSettings />,
    notifications: () => <HookSettings />,
  }
  const page = pages[section]
  return (
    <>
      <PageHeader title="Settings" crumbs={[{ to: `/p/${project.slug}`, label: project.name }]} />
      <Tabs
        items={sections.map(([key, label]) => ({ to: key === 'general' ? base : `${base}/${key}`, label }))}
        current={section === 'general' ? base : `${base}/${section}`}
      />
      {page ? page() : <Alert tone="warn">There is no settings section {section}.</Alert>}
    </>
  )
}
