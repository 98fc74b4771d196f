-- A fencing token per take of an environment's deploy lease: a write made under a lease
-- whose token is no longer current changes nothing.
ALTER TABLE "DeployLease" ADD COLUMN "token" UUID NOT NULL DEFAULT gen_random_uuid();
