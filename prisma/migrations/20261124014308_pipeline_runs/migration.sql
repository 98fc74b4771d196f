-- CreateEnum
CREATE TYPE "ReleaseStatus" AS ENUM ('pending', 'deploying', 'live', 'failed', 'rolled_back', 'superseded');

-- AlterTable
ALTER TABLE "Stage" ADD COLUMN     "cancelRequested" BOOLEAN NOT NULL DEFAULT false,
ADD COLUMN     "hostName" TEXT,
ADD COLUMN     "leaseExpiresAt" TIMESTAMP(3),
ADD COLUMN     "leaseOwner" TEXT;

-- CreateTable
CREATE TABLE "StageLogChunk" (
    "id" BIGSERIAL NOT NULL,
    "stageId" UUID NOT NULL,
    "firstSeq" INTEGER NOT NULL,
    "lastSeq" INTEGER NOT NULL,
    "lines" JSONB NOT NULL,
    "at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "StageLogChunk_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "Approval" (
    "id" UUID NOT NULL,
    "stageId" UUID NOT NULL,
    "userId" UUID NOT NULL,
    "decision" TEXT NOT NULL,
    "comment" TEXT NOT NULL,
    "digest" TEXT,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "Approval_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "Release" (
    "id" UUID NOT NULL,
    "environmentId" UUID NOT NULL,
    "number" INTEGER NOT NULL,
    "pipelineId" UUID,
    "kind" TEXT NOT NULL,
    "image" TEXT NOT NULL,
    "digest" TEXT NOT NULL,
    "configVersionId" UUID,
    "replicas" INTEGER NOT NULL,
    "status" "ReleaseStatus" NOT NULL DEFAULT 'pending',
    "previousReleaseId" UUID,
    "actorUserId" UUID,
    "error" TEXT,
    "result" JSONB,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "startedAt" TIMESTAMP(3),
    "finishedAt" TIMESTAMP(3),

    CONSTRAINT "Release_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "NotificationHook" (
    "id" UUID NOT NULL,
    "projectId" UUID NOT NULL,
    "url" TEXT NOT NULL,
    "secretEnc" TEXT NOT NULL,
    "events" TEXT[] DEFAULT ARRAY[]::TEXT[],
    "active" BOOLEAN NOT NULL DEFAULT true,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "NotificationHook_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "NotificationDelivery" (
    "id" UUID NOT NULL,
    "hookId" UUID NOT NULL,
    "event" TEXT NOT NULL,
    "status" TEXT NOT NULL,
    "attempts" INTEGER NOT NULL DEFAULT 0,
    "responseStatus" INTEGER,
    "error" TEXT,
    "payload" JSONB NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "deliveredAt" TIMESTAMP(3),

    CONSTRAINT "NotificationDelivery_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "DeployLease" (
    "environmentId" UUID NOT NULL,
    "holder" TEXT NOT NULL,
    "owner" TEXT NOT NULL,
    "expiresAt" TIMESTAMP(3) NOT NULL,
    "acquiredAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "DeployLease_pkey" PRIMARY KEY ("environmentId")
);

-- CreateIndex
CREATE UNIQUE INDEX "StageLogChunk_stageId_firstSeq_key" ON "StageLogChunk"("stageId", "firstSeq");

-- CreateIndex
CREATE UNIQUE INDEX "Approval_stageId_userId_key" ON "Approval"("stageId", "userId");

-- CreateIndex
CREATE INDEX "Release_environmentId_status_idx" ON "Release"("environmentId", "status");

-- CreateIndex
CREATE UNIQUE INDEX "Release_environmentId_number_key" ON "Release"("environmentId", "number");

-- CreateIndex
CREATE INDEX "NotificationDelivery_hookId_createdAt_idx" ON "NotificationDelivery"("hookId", "createdAt" DESC);

-- AddForeignKey
ALTER TABLE "StageLogChunk" ADD CONSTRAINT "StageLogChunk_stageId_fkey" FOREIGN KEY ("stageId") REFERENCES "Stage"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Approval" ADD CONSTRAINT "Approval_stageId_fkey" FOREIGN KEY ("stageId") REFERENCES "Stage"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Release" ADD CONSTRAINT "Release_environmentId_fkey" FOREIGN KEY ("environmentId") REFERENCES "Environment"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Release" ADD CONSTRAINT "Release_pipelineId_fkey" FOREIGN KEY ("pipelineId") REFERENCES "Pipeline"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "NotificationHook" ADD CONSTRAINT "NotificationHook_projectId_fkey" FOREIGN KEY ("projectId") REFERENCES "Project"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "NotificationDelivery" ADD CONSTRAINT "NotificationDelivery_hookId_fkey" FOREIGN KEY ("hookId") REFERENCES "NotificationHook"("id") ON DELETE CASCADE ON UPDATE CASCADE;
