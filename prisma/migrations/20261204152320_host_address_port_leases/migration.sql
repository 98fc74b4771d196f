-- A host's address: where its instances are reached (bridge containers are published on it,
-- host-network ones listen on it, health checks and the gateway dial it). Existing rows get
-- the endpoint's host when it is an IP literal (tcp://, ssh://) and 127.0.0.1 for unix://
-- (a daemon behind a unix socket runs on this machine). An endpoint naming a DNS name gets ''
-- (unknown): starting containers there fails, naming the host, until an admin sets the address.
CREATE FUNCTION pg_temp.endpoint_address(endpoint TEXT) RETURNS TEXT LANGUAGE plpgsql AS $$
DECLARE
  name TEXT;
BEGIN
  IF endpoint LIKE 'unix://%' THEN
    RETURN '127.0.0.1';
  END IF;
  name := substring(endpoint FROM '^(?:tcp|ssh|https?)://(?:[^@/]*@)?(\[[^]]+\]|[^:/]+)');
  IF name IS NULL THEN
    RETURN '';
  END IF;
  BEGIN
    RETURN host(btrim(name, '[]')::inet);
  EXCEPTION WHEN invalid_text_representation THEN
    RETURN '';
  END;
END
$$;

-- AlterTable
ALTER TABLE "Host" ADD COLUMN "address" TEXT;
UPDATE "Host" SET "address" = pg_temp.endpoint_address("endpoint");
ALTER TABLE "Host" ALTER COLUMN "address" SET NOT NULL;

DROP FUNCTION pg_temp.endpoint_address(TEXT);

-- Ports of a host's own network held by host-network instances (packages/db src/ports.ts).
-- CreateTable
CREATE TABLE "HostPortLease" (
    "hostId" UUID NOT NULL,
    "port" INTEGER NOT NULL,
    "instance" TEXT NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "HostPortLease_pkey" PRIMARY KEY ("hostId","port")
);

-- CreateIndex
CREATE INDEX "HostPortLease_hostId_instance_idx" ON "HostPortLease"("hostId", "instance");

-- AddForeignKey
ALTER TABLE "HostPortLease" ADD CONSTRAINT "HostPortLease_hostId_fkey" FOREIGN KEY ("hostId") REFERENCES "Host"("id") ON DELETE CASCADE ON UPDATE CASCADE;
