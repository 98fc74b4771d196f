-- Project isolation (issue 14 item 6): hosts and registries are granted to projects by an
-- instance administrator; per-project limits on replicas, memory and the host network.

ALTER TABLE "Project"
  ADD COLUMN "maxReplicas" INTEGER NOT NULL DEFAULT 10,
  ADD COLUMN "maxMemoryMb" INTEGER NOT NULL DEFAULT 2048,
  ADD COLUMN "allowHostNetwork" BOOLEAN NOT NULL DEFAULT false;

CREATE TABLE "ProjectHostGrant" (
    "projectId" UUID NOT NULL,
    "hostId" UUID NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "ProjectHostGrant_pkey" PRIMARY KEY ("projectId","hostId")
);
CREATE INDEX "ProjectHostGrant_hostId_idx" ON "ProjectHostGrant"("hostId");
ALTER TABLE "ProjectHostGrant" ADD CONSTRAINT "ProjectHostGrant_projectId_fkey" FOREIGN KEY ("projectId") REFERENCES "Project"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "ProjectHostGrant" ADD CONSTRAINT "ProjectHostGrant_hostId_fkey" FOREIGN KEY ("hostId") REFERENCES "Host"("id") ON DELETE CASCADE ON UPDATE CASCADE;

CREATE TABLE "ProjectRegistryGrant" (
    "projectId" UUID NOT NULL,
    "registryId" UUID NOT NULL,
    "pathPrefix" TEXT NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "ProjectRegistryGrant_pkey" PRIMARY KEY ("projectId","registryId")
);
CREATE INDEX "ProjectRegistryGrant_registryId_idx" ON "ProjectRegistryGrant"("registryId");
ALTER TABLE "ProjectRegistryGrant" ADD CONSTRAINT "ProjectRegistryGrant_projectId_fkey" FOREIGN KEY ("projectId") REFERENCES "Project"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "ProjectRegistryGrant" ADD CONSTRAINT "ProjectRegistryGrant_registryId_fkey" FOREIGN KEY ("registryId") REFERENCES "Registry"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- Backfill: every project keeps what it already uses, so nothing breaks.
-- The hosts of its environments, and the build hosts of its agent group.
INSERT INTO "ProjectHostGrant" ("projectId", "hostId")
SELECT DISTINCT e."projectId", eh."hostId"
FROM "EnvironmentHost" eh JOIN "Environment" e ON e."id" = eh."environmentId"
UNION
SELECT p."id", h."id" FROM "Project" p JOIN "Host" h ON h."agentGroup" = p."buildAgentGroup"
ON CONFLICT DO NOTHING;

-- Its registry, at exactly the repository path it pushes to today.
INSERT INTO "ProjectRegistryGrant" ("projectId", "registryId", "pathPrefix")
SELECT "id", "registryId", "imageRepository" FROM "Project" WHERE "registryId" IS NOT NULL;

-- The host network where its app already uses it; limits no lower than what it runs.
UPDATE "Project" SET "allowHostNetwork" = true WHERE "appSpec"->>'network' = 'host';
UPDATE "Project" p SET "maxReplicas" = GREATEST(10, (SELECT COALESCE(MAX(e."replicas"), 0) FROM "Environment" e WHERE e."projectId" = p."id"));
UPDATE "Project" SET "maxMemoryMb" = GREATEST(2048, ("appSpec"->'resources'->>'memoryMb')::integer)
WHERE "appSpec"->'resources'->>'memoryMb' IS NOT NULL;
