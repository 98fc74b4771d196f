-- A release's canary (its state, and a person's last command to it).
ALTER TABLE "Release" ADD COLUMN "canary" JSONB,
ADD COLUMN "canaryCommand" JSONB;
