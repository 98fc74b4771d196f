import { type Project, Project as ProjectSchema, UpdateProjectBody } from '@slipway/contracts'
import { type ChangeEvent, useState } from 'react'
import { api } from '../api/client.ts'
import { invalidate, prime } from '../api/resource.ts'
import { reasonIfDenied, usePermissions } from '../app/permissions.ts'
import { useProjectScope } from '../pages/project-scope.tsx'
import { Alert } from '../ui/Async.tsx'
import { Button } from '../ui/Button.tsx'
import { CheckboxField, SelectField, TextArea, TextField } from '../ui/Field.tsx'
import { Form, useSubmit } from '../ui/form.tsx'
import { Section } from '../ui/Layout.tsx'
import { list, num, pairs, pairsText } from './draft.ts'
import { RegistrySelect } from './InfrastructureFields.tsx'

function draftOf(project: Project) {
  const spec = project.appSpec
  const check = spec.healthCheck
  return {
    name: project.name,
    gitUrl: project.gitUrl,
    defaultBranch: project.defaultBranch,
    branchRules: project.branchRules.join(', '),
    tagRules: project.tagRules.join(', '),
    dockerfilePath: project.dockerfilePath,
    buildContext: project.buildContext,
    buildArgs: pairsText(project.buildArgs),
    registryId: project.registryId ?? '',
    imageRepository: project.imageRepository,
    buildAgentGroup: project.buildAgentGroup,
    supersedeQueued: project.supersedeQueued,
    keepReleases: String(project.keepReleases),
    containerPort: String(spec.containerPort),
    network: spec.network as string,
    checkType: check.type,
    checkPath: check.type === 'http' ? check.path : '/healthz',
    interval: String(check.intervalSeconds),
    timeout: String(check.timeoutSeconds),
    retries: String(check.retries),
    startPeriod: String(check.startPeriodSeconds),
    stopGrace: String(spec.stopGraceSeconds),
    memoryMb: spec.resources.memoryMb === undefined ? '' : String(spec.resources.memoryMb),
    cpus: spec.resources.cpus === undefined ? '' : String(spec.resources.cpus),
  }
}

type Draft = ReturnType<typeof draftOf>

function bodyOf(d: Draft) {
  const timing = {
    intervalSeconds: num(d.interval),
    timeoutSeconds: num(d.timeout),
    retries: num(d.retries),
    startPeriodSeconds: num(d.startPeriod),
  }
  return {
    name: d.name,
    gitUrl: d.gitUrl,
    defaultBranch: d.defaultBranch,
    branchRules: list(d.branchRules),
    tagRules: list(d.tagRules),
    dockerfilePath: d.dockerfilePath,
    buildContext: d.buildContext,
    buildArgs: pairs(d.buildArgs),
    registryId: d.registryId || null,
    imageRepository: d.imageRepository,
    buildAgentGroup: d.buildAgentGroup,
    supersedeQueued: d.supersedeQueued,
    keepReleases: num(d.keepReleases),
    appSpec: {
      containerPort: num(d.containerPort),
      network: d.network,
      healthCheck:
        d.checkType === 'http' ? { type: 'http', path: d.checkPath, ...timing } : { type: 'tcp', ...timing },
      stopGraceSeconds: num(d.stopGrace),
      resources: { memoryMb: num(d.memoryMb), cpus: num(d.cpus) },
    },
  }
}

/** Project, build and app spec (container port, network, health check, stop grace, resources). */
export function GeneralSettings() {
  const { project } = useProjectScope()
  const can = usePermissions(project.id)
  const denied = reasonIfDenied(can.project('project.update'))
  const [d, setDraft] = useState(() => draftOf(project))
  const form = useSubmit(UpdateProjectBody, async (body) => {
    const saved = await api.patch(`/api/projects/${project.id}`, body, ProjectSchema)
    prime(`project:${project.slug}`, saved)
    invalidate('projects')
  })
  const text = (key: keyof Draft) => ({
    value: String(d[key]),
    onChange: (event: ChangeEvent<HTMLInputElement | HTMLTextAreaElement | HTMLSelectElement>) =>
      setDraft({ ...d, [key]: event.target.value }),
  })
  const e = form.error
  return (
    <Section title="Project, build and app spec">
      {denied ? <Alert tone="info">Read only: {denied}.</Alert> : null}
      <Form onSubmit={() => void form.submit(bodyOf(d))} state={form} label="Project settings">
        <fieldset disabled={Boolean(denied)}>
          <legend>Project</legend>
          <div className="form-grid">
            <TextField label="Name" {...text('name')} error={e('name')} />
            <TextField label="Git URL" {...text('gitUrl')} error={e('gitUrl')} />
            <TextField label="Default branch" {...text('defaultBranch')} error={e('defaultBranch')} />
            <TextField
              label="Branch rules"
              {...text('branchRules')}
              error={e('branchRules') ?? e('branchRules.0')}
              hint="Pushes to these branches start pipelines; comma separated, * and ** allowed."
            />
            <TextField label="Tag rules" {...text('tagRules')} error={e('tagRules') ?? e('tagRules.0')} />
            <CheckboxField
              label="A newer pipeline replaces queued ones"
              checked={d.supersedeQueued}
              onChange={(event) => setDraft({ ...d, supersedeQueued: event.target.checked })}
            />
            <TextField
              label="Releases kept per environment"
              type="number"
              {...text('keepReleases')}
              error={e('keepReleases')}
            />
          </div>
        </fieldset>
        <fieldset disabled={Boolean(denied)}>
          <legend>Build</legend>
          <div className="form-grid">
            <TextField label="Dockerfile path" {...text('dockerfilePath')} error={e('dockerfilePath')} />
            <TextField label="Build context" {...text('buildContext')} error={e('buildContext')} />
            <TextField label="Build agent group" {...text('buildAgentGroup')} error={e('buildAgentGroup')} />
            <TextField label="Image repository" {...text('imageRepository')} error={e('imageRepository')} />
            <RegistrySelect
              projectId={project.id}
              {...text('registryId')}
              // The choices are shown to whoever manages environments (the same roles today).
              canManage={!denied && can.project('environment.manage').allowed}
              error={e('registryId')}
            />
          </div>
          <TextArea
            label="Build args"
            {...text('buildArgs')}
            error={Object.entries(form.errors).find(([k]) => k.startsWith('buildArgs'))?.[1]}
            hint="One KEY=value per line. Not for secrets: values stay in the image history (build secrets are read with RUN --mount=type=secret)."
          />
        </fieldset>
        <fieldset disabled={Boolean(denied)}>
          <legend>App spec and health check</legend>
          <div className="form-grid">
            <TextField
              label="Container port"
              type="number"
              {...text('containerPort')}
              error={e('appSpec.containerPort')}
            />
            <SelectField
              label="Network"
              {...text('network')}
              error={e('appSpec.network')}
              options={[
                { value: 'bridge', label: "Bridge (port published on the host's address)" },
                { value: 'host', label: 'Host (listens on PORT)' },
              ]}
              hint={
                d.network === 'host'
                  ? 'Containers share the host network: the app must listen on the port given in PORT.'
                  : undefined
              }
            />
            <SelectField
              label="Health check"
              {...text('checkType')}
              options={[
                { value: 'http', label: 'HTTP request' },
                { value: 'tcp', label: 'TCP connect' },
              ]}
            />
            {d.checkType === 'http' ? (
              <TextField
                label="Health check path"
                {...text('checkPath')}
                error={e('appSpec.healthCheck.path')}
              />
            ) : null}
            <TextField
              label="Interval (s)"
              type="number"
              {...text('interval')}
              error={e('appSpec.healthCheck.intervalSeconds')}
            />
            <TextField
              label="Timeout (s)"
              type="number"
              {...text('timeout')}
              error={e('appSpec.healthCheck.timeoutSeconds')}
            />
            <TextField
              label="Retries"
              type="number"
              {...text('retries')}
              error={e('appSpec.healthCheck.retries')}
            />
            <TextField
              label="Start period (s)"
              type="number"
              {...text('startPeriod')}
              error={e('appSpec.healthCheck.startPeriodSeconds')}
            />
            <TextField
              label="Stop grace (s)"
              type="number"
              {...text('stopGrace')}
              error={e('appSpec.stopGraceSeconds')}
            />
            <TextField
              label="Memory limit (MB)"
              type="number"
              {...text('memoryMb')}
              error={e('appSpec.resources.memoryMb')}
            />
            <TextField
              label="CPUs"
              type="number"
              step="0.1"
              {...text('cpus')}
              error={e('appSpec.resources.cpus')}
            />
          </div>
        </fieldset>
        <Button type="submit" variant="primary" busy={form.busy} disabledReason={denied}>
          Save project
        </Button>
      </Form>
    </Section>
  )
}
