import { CreateProjectBody, Project } from '@slipway/contracts'
import { useState } from 'react'
import { api } from '../api/client.ts'
import { useRegistries } from '../api/queries.ts'
import { invalidate } from '../api/resource.ts'
import { usePermissions } from '../app/permissions.ts'
import { navigate } from '../app/router.tsx'
import { num } from '../settings/draft.ts'
import { Alert } from '../ui/Async.tsx'
import { Button } from '../ui/Button.tsx'
import { SelectField, TextField } from '../ui/Field.tsx'
import { Form, useSubmit } from '../ui/form.tsx'
import { PageHeader, Section } from '../ui/Layout.tsx'

/** A new project with the essentials; the rest is in its settings. */
export default function NewProject() {
  const can = usePermissions()
  const allowed = can.instance('project.create')
  const registries = useRegistries(allowed.allowed)
  const [d, setDraft] = useState({
    slug: '',
    name: '',
    gitUrl: '',
    imageRepository: '',
    registryId: '',
    containerPort: '8080',
    healthPath: '/healthz',
  })
  const form = useSubmit(CreateProjectBody, async (body) => {
    const project = await api.post('/api/projects', body, Project)
    invalidate('projects')
    navigate(`/p/${project.slug}/settings/environments`)
  })
  if (!allowed.allowed) return <Alert tone="info">{allowed.reason}.</Alert>
  const set = (key: keyof typeof d) => ({
    value: d[key],
    onChange: (event: { target: { value: string } }) => setDraft({ ...d, [key]: event.target.value }),
  })
  return (
    <>
      <PageHeader title="New project" crumbs={[{ to: '/', label: 'Projects' }]} />
      <Section title="Essentials">
        <Form
          label="New project"
          state={form}
          onSubmit={() =>
            void form.submit({
              slug: d.slug,
              name: d.name,
              gitUrl: d.gitUrl,
              imageRepository: d.imageRepository || d.slug,
              registryId: d.registryId || null,
              appSpec: {
                containerPort: num(d.containerPort),
                healthCheck: { type: 'http', path: d.healthPath },
              },
            })
          }
        >
          <div className="form-grid">
            <TextField
              label="Slug"
              {...set('slug')}
              error={form.error('slug')}
              hint="Used in URLs and container names."
            />
            <TextField label="Name" {...set('name')} error={form.error('name')} />
            <TextField label="Git URL" {...set('gitUrl')} error={form.error('gitUrl')} />
            <TextField
              label="Image repository"
              {...set('imageRepository')}
              error={form.error('imageRepository')}
              hint="Defaults to the slug."
            />
            <SelectField
              label="Registry"
              {...set('registryId')}
              error={form.error('registryId')}
              options={[
                { value: '', label: 'none' },
                ...(registries.data ?? []).map((r) => ({ value: r.id, label: r.name })),
              ]}
            />
            <TextField
              label="Container port"
              type="number"
              {...set('containerPort')}
              error={form.error('appSpec.containerPort')}
            />
            <TextField
              label="Health check path"
              {...set('healthPath')}
              error={form.error('appSpec.healthCheck.path')}
            />
          </div>
          <Button type="submit" variant="primary" busy={form.busy}>
            Create project
          </Button>
        </Form>
      </Section>
    </>
  )
}
