import { useMe } from '../app/session.tsx'
import { Alert } from '../ui/Async.tsx'
import { PageHeader, Tabs } from '../ui/Layout.tsx'
import { HostsAdmin } from './HostsAdmin.tsx'
import { RegistriesAdmin } from './RegistriesAdmin.tsx'
import { UsersAdmin } from './UsersAdmin.tsx'

const sections = [
  ['hosts', 'Docker hosts'],
  ['registries', 'Registries'],
  ['users', 'Users'],
] as const

/** Installation-wide settings, for instance administrators. */
export default function Admin({ section }: { section: string }) {
  const me = useMe()
  if (!me.user.isAdmin) return <Alert tone="info">This part is for instance administrators.</Alert>
  const title = sections.find(([key]) => key === section)?.[1]
  return (
    <>
      <PageHeader title={title ?? 'Administration'} />
      <Tabs
        items={sections.map(([key, label]) => ({ to: `/admin/${key}`, label }))}
        current={`/admin/${section}`}
      />
      {section === 'hosts' ? <HostsAdmin /> : null}
      {section === 'registries' ? <RegistriesAdmin /> : null}
      {section === 'users' ? <UsersAdmin /> : null}
      {title ? null : <Alert tone="warn">There is no section {section}.</Alert>}
    </>
  )
}
