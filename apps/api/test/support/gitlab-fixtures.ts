/**
 * Webhook deliveries shaped like the Push Hook and Tag Push Hook examples in GitLab's
 * documentation (https://docs.gitlab.com/user/project/integrations/webhook_events/):
 * same fields, nesting and headers; values adapted to the test.
 */
export function pushHook(options: { ref: string; before?: string; after: string; title?: string }) {
  return {
    object_kind: 'push',
    event_name: 'push',
    before: options.before ?? '95790bf891e76fee5e1747ab589903a6a1f80f22',
    after: options.after,
    ref: options.ref,
    ref_protected: true,
    checkout_sha: options.after,
    message: null,
    user_id: 4,
    user_name: 'John Smith',
    user_username: 'jsmith',
    user_email: 'john@example.com',
    user_avatar: 'https://s.gravatar.com/avatar/d4c74594d841139328695756648b6bd6?s=80',
    project_id: 15,
    project: {
      id: 15,
      name: 'Diaspora',
      description: '',
      web_url: 'http://example.com/mike/diaspora',
      avatar_url: null,
      git_ssh_url: 'git@example.com:mike/diaspora.git',
      git_http_url: 'http://example.com/mike/diaspora.git',
      namespace: 'Mike',
      visibility_level: 0,
      path_with_namespace: 'mike/diaspora',
      default_branch: 'main',
      ci_config_path: null,
      homepage: 'http://example.com/mike/diaspora',
      url: 'git@example.com:mike/diaspora.git',
      ssh_url: 'git@example.com:mike/diaspora.git',
      http_url: 'http://example.com/mike/diaspora.git',
    },
    commits: [
      {
        id: options.after,
        message: `${options.title ?? 'Update Catalan translation to e38cb41.'}\n\nSee https://gitlab.com/gitlab-org/gitlab for more information`,
        title: options.title ?? 'Update Catalan translation to e38cb41.',
        timestamp: '2011-12-12T14:27:31+02:00',
        url: `http://example.com/mike/diaspora/commit/${options.after}`,
        author: { name: 'Jordi Mallach', email: 'jordi@softcatala.org' },
        added: ['CHANGELOG'],
        modified: ['app/controller/application.rb'],
        removed: [],
      },
    ],
    total_commits_count: 1,
    repository: {
      name: 'Diaspora',
      url: 'git@example.com:mike/diaspora.git',
      description: '',
      homepage: 'http://example.com/mike/diaspora',
      git_http_url: 'http://example.com/mike/diaspora.git',
      git_ssh_url: 'git@example.com:mike/diaspora.git',
      visibility_level: 0,
    },
  }
}

/**
 * A tag push. `after` is what the tag ref now points at: for an annotated tag that is the tag
 * object, and `checkout_sha` is the commit (GitLab sends both; they differ only then).
 */
export function tagPushHook(options: { tag: string; after: string; checkoutSha?: string }) {
  return {
    object_kind: 'tag_push',
    event_name: 'tag_push',
    before: '0000000000000000000000000000000000000000',
    after: options.after,
    ref: `refs/tags/${options.tag}`,
    ref_protected: true,
    checkout_sha: options.checkoutSha ?? options.after,
    user_id: 1,
    user_name: 'John Smith',
    user_username: 'jsmith',
    user_avatar:
      'https://s.gravatar.com/avatar/d4c74594d841139328695756648b6bd6?s=8://s.gravatar.com/avatar/d4c74594d841139328695756648b6bd6?s=80',
    project_id: 1,
    project: {
      id: 1,
      name: 'Example',
      description: '',
      web_url: 'http://example.com/jsmith/example',
      avatar_url: null,
      git_ssh_url: 'git@example.com:jsmith/example.git',
      git_http_url: 'http://example.com/jsmith/example.git',
      namespace: 'Jsmith',
      visibility_level: 0,
      path_with_namespace: 'jsmith/example',
      default_branch: 'main',
      homepage: 'http://example.com/jsmith/example',
      url: 'git@example.com:jsmith/example.git',
      ssh_url: 'git@example.com:jsmith/example.git',
      http_url: 'http://example.com/jsmith/example.git',
    },
    commits: [],
    total_commits_count: 0,
    repository: {
      name: 'Example',
      url: 'ssh://git@example.com/jsmith/example.git',
      description: '',
      homepage: 'http://example.com/jsmith/example',
      git_http_url: 'http://example.com/jsmith/example.git',
      git_ssh_url: 'git@example.com:jsmith/example.git',
      visibility_level: 0,
    },
  }
}

/** The headers GitLab sends with a delivery. */
export function gitlabHeaders(
  event: 'Push Hook' | 'Tag Push Hook' | 'Merge Request Hook',
  token: string,
  uuid?: string,
) {
  return {
    'content-type': 'application/json',
    'user-agent': 'GitLab/17.5.0',
    'x-gitlab-event': event,
    'x-gitlab-token': token,
    'x-gitlab-instance': 'https://gitlab.example.com',
    'x-gitlab-webhook-uuid': '1a2b3c4d-0000-4000-8000-000000000001',
    ...(uuid ? { 'x-gitlab-event-uuid': uuid } : {}),
  }
}
