-- A Rollout-style check: paused, generation observed (Argo Rollouts stores observedGeneration as a
-- string), explicit Degraded phase, then replica counts.
local hs = {status = "Progressing", message = ""}
if obj.spec.paused == true then
  hs.status = "Suspended"
  hs.message = "Rollout is paused"
  return hs
end
if obj.status == nil then
  hs.message = "Waiting for rollout spec update to be observed"
  return hs
end
local generation = tonumber(obj.metadata.generation) or 0
local observed = tonumber(obj.status.observedGeneration) or 0
if observed < generation then
  hs.message = "Waiting for rollout spec update to be observed"
  return hs
end
if obj.status.phase == "Degraded" then
  hs.status = "Degraded"
  hs.message = obj.status.message or "Rollout is degraded"
  return hs
end
local replicas = obj.spec.replicas or 1
local updated = obj.status.updatedReplicas or 0
local available = obj.status.availableReplicas or 0
if updated < replicas then
  hs.message = string.format("Waiting for roll out to finish: %d out of %d new replicas have been updated...", updated, replicas)
  return hs
end
if available < updated then
  hs.message = string.format("Waiting for roll out to finish: %d of %d updated replicas are available...", available, updated)
  return hs
end
hs.status = "Healthy"
return hs
