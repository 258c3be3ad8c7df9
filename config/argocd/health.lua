-- Argo CD health check for every kind of reporting.policyherald.io (NotificationTarget,
-- TargetChannel, EmailReportSchedule, MetricsProfile, BlockReportPolicy). It reads the
-- status the way kstatus does, so Argo CD and Flux agree on an object:
--   being deleted                            -> Progressing (kstatus: Terminating)
--   no status.observedGeneration yet         -> Progressing (kstatus cannot tell: Current)
--   status.observedGeneration ~= generation  -> Progressing (kstatus: InProgress)
--   Reconciling=True                         -> Progressing (kstatus: InProgress)
--   Stalled=True                             -> Degraded    (kstatus: Failed)
--   Ready=True, also reason Suspended        -> Healthy     (kstatus: Current)
--   Ready=False or Unknown                   -> Progressing (kstatus: InProgress)
--   no Ready condition                       -> Progressing (kstatus cannot tell: Current)
-- The operator sets Stalled with every problem only a person can fix, so Degraded always means
-- "change the object or what it references"; Ready=False without Stalled (DeliveryFailing,
-- DeliveryNotStarted, DeliveryPaused) may clear up by itself and stays Progressing.
-- Only Lua's base and table libraries are used: Argo CD opens no others by default.

local hs = {}

local function describe(c)
  local reason = c.reason or ""
  local message = c.message or ""
  if message == "" then
    return reason
  end
  if reason == "" then
    return message
  end
  return reason .. ": " .. message
end

if obj.metadata ~= nil and obj.metadata.deletionTimestamp ~= nil then
  hs.status = "Progressing"
  hs.message = "being deleted"
  return hs
end

local status = obj.status
if status == nil or status.observedGeneration == nil then
  hs.status = "Progressing"
  hs.message = "waiting for the Policy Herald controller to look at this object"
  return hs
end

local generation = nil
if obj.metadata ~= nil then
  generation = obj.metadata.generation
end
if generation ~= nil and status.observedGeneration ~= generation then
  hs.status = "Progressing"
  hs.message = "waiting for the Policy Herald controller to look at generation " .. generation ..
    " (the status describes generation " .. status.observedGeneration .. ")"
  return hs
end

local ready = nil
if status.conditions ~= nil then
  for _, c in ipairs(status.conditions) do
    if c.type == "Reconciling" and c.status == "True" then
      hs.status = "Progressing"
      hs.message = describe(c)
      return hs
    end
    if c.type == "Stalled" and c.status == "True" then
      hs.status = "Degraded"
      hs.message = describe(c)
      return hs
    end
    if ready == nil and c.type == "Ready" and
      (c.status == "True" or c.status == "False" or c.status == "Unknown") then
      ready = c
    end
  end
end

if ready == nil then
  hs.status = "Progressing"
  hs.message = "waiting for the Policy Herald controller to report Ready"
  return hs
end
if ready.status == "True" then
  -- A suspended object (reason Suspended) is what its owner asked for: Healthy, not Argo CD's
  -- Suspended, which would hold back later sync waves until the object is resumed.
  hs.status = "Healthy"
else
  hs.status = "Progressing"
end
hs.message = describe(ready)
return hs
