-- Credentials in a project's git URL (https://ci:<token>@host/repo.git) are encrypted at rest
-- like every other secret: the URL without them stays in "gitUrl", the userinfo goes to this
-- column as an AES-256-GCM envelope. SQL cannot encrypt (the keyring is not in the database),
-- so this migration only adds the column; the API moves credentials still inside "gitUrl"
-- into it when it starts, before it listens (apps/api/src/projects/git-url.ts
-- sealGitUrlCredentials, idempotent). Until then git is given the stored URL as it is.
ALTER TABLE "Project" ADD COLUMN "gitCredentialsEnc" TEXT;
