import { lazy, Suspense } from 'react'
import { SignIn } from '../pages/SignIn.tsx'
import { Alert, ErrorBoundary, Loading } from '../ui/Async.tsx'
import { Button } from '../ui/Button.tsx'
import { Link, matchRoute, useLocation } from './router.tsx'
import { SessionProvider, useSession } from './session.tsx'

const Projects = lazy(() => import('../pages/Projects.tsx'))
const NewProject = lazy(() => import('../pages/NewProject.tsx'))
const ProjectLayout = lazy(() => import('../pages/ProjectLayout.tsx'))
const Admin = lazy(() => import('../settings/Admin.tsx'))
const Account = lazy(() => import('../settings/Tokens.tsx'))

function NotFound() {
  return (
    <Alert tone="warn">
      There is no page at this address. <Link to="/">Go to the projects</Link>.
    </Alert>
  )
}

function Routes() {
  const { path } = useLocation()
  const project = matchRoute('/p/:project/*', path)
  const admin = matchRoute('/admin/:section', path)
  let page = <NotFound />
  if (matchRoute('/', path)) page = <Projects />
  else if (matchRoute('/projects/new', path)) page = <NewProject />
  else if (project) page = <ProjectLayout slug={project.project!} rest={project.rest ?? ''} />
  else if (admin) page = <Admin section={admin.section!} />
  else if (matchRoute('/account', path)) page = <Account />
  return (
    <ErrorBoundary resetKey={path}>
      <Suspense fallback={<Loading what="Loading the page" />}>{page}</Suspense>
    </ErrorBoundary>
  )
}

function Shell() {
  const { state, signOut } = useSession()
  if (state.status !== 'signed-in') return null
  const { me } = state
  return (
    <>
      <a className="skip" href="#main">
        Skip to content
      </a>
      <header className="topbar">
        <Link to="/" className="brand">
          Slipway
        </Link>
        <nav aria-label="Main" className="topnav">
          <Link to="/">Projects</Link>
          {me.user.isAdmin ? (
            <>
              <Link to="/admin/hosts">Hosts</Link>
              <Link to="/admin/registries">Registries</Link>
              <Link to="/admin/users">Users</Link>
            </>
          ) : null}
          <Link to="/account">API tokens</Link>
        </nav>
        <div className="who">
          <span title={me.user.email}>{me.user.name}</span>
          <Button variant="ghost" onClick={() => void signOut()}>
            Sign out
          </Button>
        </div>
      </header>
      <main id="main" className="main">
        <Routes />
      </main>
    </>
  )
}

function Gate() {
  const { state, refresh } = useSession()
  switch (state.status) {
    case 'loading':
      return <Loading what="Starting" />
    case 'error':
      return (
        <main className="main narrow">
          <Alert action={<Button onClick={() => void refresh()}>Try again</Button>}>
            Slipway cannot be reached: {state.error.message}
          </Alert>
        </main>
      )
    case 'setup':
      return <SignIn mode="setup" />
    case 'signed-out':
      return <SignIn mode="sign-in" notice={state.reason} />
    case 'signed-in':
      return <Shell />
  }
}

export function App() {
  return (
    <ErrorBoundary>
      <SessionProvider>
        <Gate />
      </SessionProvider>
    </ErrorBoundary>
  )
}
