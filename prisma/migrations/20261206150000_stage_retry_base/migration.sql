-- Attempts a stage had used when a person last retried it: its tries are counted from there,
-- so a stage retried after its last attempt runs again with all its tries.
ALTER TABLE "Stage" ADD COLUMN "retryBase" INTEGER NOT NULL DEFAULT 0;
