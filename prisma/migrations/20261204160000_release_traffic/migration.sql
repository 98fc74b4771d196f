-- What the gateway saw during a release's rollout: requests, failures by cause, latency and
-- requests per release per second (@slipway/contracts TrafficReport). Null until recorded.
ALTER TABLE "Release" ADD COLUMN "traffic" JSONB;
