import { LoginBody, SetupBody } from '@slipway/contracts'
import { useState } from 'react'
import { useSession } from '../app/session.tsx'
import { Alert } from '../ui/Async.tsx'
import { Button } from '../ui/Button.tsx'
import { TextField } from '../ui/Field.tsx'
import { Form, useSubmit } from '../ui/form.tsx'

/** Sign-in, or on a fresh installation the creation of the first administrator. */
export function SignIn({ mode, notice }: { mode: 'sign-in' | 'setup'; notice?: string | undefined }) {
  const session = useSession()
  const [email, setEmail] = useState('')
  const [name, setName] = useState('')
  const [password, setPassword] = useState('')
  const signIn = useSubmit(LoginBody, (body) => session.signIn(body.email, body.password))
  const setup = useSubmit(SetupBody, (body) => session.setup(body))
  const form = mode === 'setup' ? setup : signIn
  const submit = () =>
    mode === 'setup' ? void setup.submit({ email, name, password }) : void signIn.submit({ email, password })

  return (
    <main className="auth" id="main">
      <div className="card">
        <h1>{mode === 'setup' ? 'Set up Slipway' : 'Sign in to Slipway'}</h1>
        {mode === 'setup' ? (
          <p className="muted">Nobody has an account yet. Create the first administrator.</p>
        ) : null}
        {notice ? <Alert tone="info">{notice}</Alert> : null}
        <Form onSubmit={submit} state={form} label={mode === 'setup' ? 'Set up' : 'Sign in'}>
          {mode === 'setup' ? (
            <TextField
              label="Your name"
              name="name"
              autoComplete="name"
              value={name}
              onChange={(event) => setName(event.target.value)}
              error={form.error('name')}
            />
          ) : null}
          <TextField
            label="Email"
            name="email"
            type="email"
            autoComplete="username"
            value={email}
            onChange={(event) => setEmail(event.target.value)}
            error={form.error('email')}
          />
          <TextField
            label="Password"
            name="password"
            type="password"
            autoComplete={mode === 'setup' ? 'new-password' : 'current-password'}
            value={password}
            onChange={(event) => setPassword(event.target.value)}
            error={form.error('password')}
            hint={mode === 'setup' ? 'At least 10 characters.' : undefined}
          />
          <Button type="submit" variant="primary" busy={form.busy}>
            {mode === 'setup' ? 'Create administrator' : 'Sign in'}
          </Button>
        </Form>
      </div>
    </main>
  )
}
