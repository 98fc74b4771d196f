-- AlterTable
ALTER TABLE "Project" ADD COLUMN     "buildSecrets" JSONB NOT NULL DEFAULT '{}';
