-- An environment's deploy target: Slipway's rolling engine on its Docker hosts (every
-- environment so far), or a Docker Swarm whose manager is the environment's one host.
CREATE TYPE "DeployTargetKind" AS ENUM ('docker_hosts', 'swarm');

ALTER TABLE "Environment" ADD COLUMN "target" "DeployTargetKind" NOT NULL DEFAULT 'docker_hosts';
