import { describe, expect, it } from 'vitest'
import {
  hasCredentials,
  joinCredentials,
  keepCredentials,
  splitCredentials,
  withoutCredentials,
} from './url.ts'

describe('credentials in git URLs', () => {
  it.each([
    ['https://ci:glpat-123@gitlab.local/a.git', 'https://gitlab.local/a.git'],
    ['https://glpat-123@gitlab.local/a.git', 'https://gitlab.local/a.git'],
    ['HTTP://u:p@host:8080/a.git', 'HTTP://host:8080/a.git'],
    ['ssh://git:secret@host/a.git', 'ssh://git@host/a.git'],
    ['ssh://git@host/a.git', 'ssh://git@host/a.git'],
    ['git@gitlab.local:team/a.git', 'git@gitlab.local:team/a.git'],
    ['file:///srv/git/a.git', 'file:///srv/git/a.git'],
    ['https://gitlab.local/a@b.git', 'https://gitlab.local/a@b.git'],
  ])('%s is shown as %s', (url, shown) => {
    expect(withoutCredentials(url)).toBe(shown)
    expect(hasCredentials(url)).toBe(url !== shown)
  })

  it('keeps stored credentials only when the URL sent back is the one shown', () => {
    const stored = 'https://ci:glpat-123@gitlab.local/team/a.git'
    expect(keepCredentials('https://gitlab.local/team/a.git', stored)).toBe(stored)
    // Another host or repository: the credentials do not follow it.
    expect(keepCredentials('https://evil.example/team/a.git', stored)).toBe('https://evil.example/team/a.git')
    expect(keepCredentials('https://gitlab.local/team/b.git', stored)).toBe('https://gitlab.local/team/b.git')
    // New credentials replace the old.
    expect(keepCredentials('https://ci:new@gitlab.local/team/a.git', stored)).toBe(
      'https://ci:new@gitlab.local/team/a.git',
    )
    expect(keepCredentials('https://gitlab.local/x.git', 'https://gitlab.local/y.git')).toBe(
      'https://gitlab.local/x.git',
    )
  })

  it.each([
    ['https://ci:glpat-123@gitlab.local/a.git', 'https://gitlab.local/a.git', 'ci:glpat-123'],
    ['https://glpat-123@gitlab.local/a.git', 'https://gitlab.local/a.git', 'glpat-123'],
    ['HTTP://u:p@host:8080/a.git', 'HTTP://host:8080/a.git', 'u:p'],
    ['ssh://git:secret@host/a.git', 'ssh://git@host/a.git', 'git:secret'],
    ['ssh://git@host/a.git', 'ssh://git@host/a.git', null],
    ['git@gitlab.local:team/a.git', 'git@gitlab.local:team/a.git', null],
    ['file:///srv/git/a.git', 'file:///srv/git/a.git', null],
    ['https://gitlab.local/a@b.git', 'https://gitlab.local/a@b.git', null],
  ])(
    '%s is stored as %s with the credentials %s apart, and put back together for git',
    (url, stored, credentials) => {
      expect(splitCredentials(url)).toEqual({ url: stored, credentials })
      expect(joinCredentials(stored, credentials)).toBe(url)
    },
  )
})
