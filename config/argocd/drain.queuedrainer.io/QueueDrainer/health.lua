-- Argo CD health check for drain.queuedrainer.io/QueueDrainer.
--
-- The first rule that matches decides:
--
--   1. No status yet (or no Ready condition)  -> Progressing "waiting for the operator to observe the drainer"
--      status.observedGeneration < generation -> Progressing "spec change not yet observed"
--   2. Stalled is True                        -> Degraded, with the Stalled message. A person must act:
--      the queue does not exist, access to it is denied, the role is not allowed,
--      the queue URL or the schedule is invalid, or the consumer does not reduce the backlog.
--   3. spec.suspend is true                   -> Suspended "suspended: no run starts"
--   4. Reconciling is True                    -> Progressing, with the Reconciling message:
--      a transient AWS error (throttling, the network) is being retried.
--   5. Draining is True with reason WorkersPending
--                                             -> Degraded, with the Draining message: the run's
--      workers have waited past the grace period (unschedulable, image pull, ...).
--   6. Otherwise                              -> Healthy, with
--      "draining: run <name>, <running>/<wanted> workers, <n> messages visible" while Draining is True,
--      else "watching: <n> messages visible" ("watching: <Ready message>" before the queue was observed).
--
-- A drain in progress is Healthy, not Progressing: a drain can last hours and must
-- not hold an Argo CD sync, or a sync wave, that waits for health.
--
-- Argo CD runs this without the Lua standard libraries (only the base functions,
-- table, os.time and os.date): no string, math, io or require here.

local status = obj.status

local function condition(conditionType)
  if status == nil or status.conditions == nil then
    return nil
  end
  for _, c in ipairs(status.conditions) do
    if c.type == conditionType then
      return c
    end
  end
  return nil
end

local function isTrue(c)
  return c ~= nil and c.status == "True"
end

local function messageOf(c)
  if c.message ~= nil and c.message ~= "" then
    return c.message
  end
  if c.reason ~= nil and c.reason ~= "" then
    return c.type .. " " .. c.reason
  end
  return c.type
end

local function result(healthStatus, message)
  return { status = healthStatus, message = message }
end

local ready = condition("Ready")
if status == nil or ready == nil then
  return result("Progressing", "waiting for the operator to observe the drainer")
end

local generation = nil
if obj.metadata ~= nil then
  generation = tonumber(obj.metadata.generation)
end
local observed = tonumber(status.observedGeneration) or 0
if generation ~= nil and observed < generation then
  return result("Progressing", "spec change not yet observed")
end

local stalled = condition("Stalled")
if isTrue(stalled) then
  return result("Degraded", messageOf(stalled))
end

if obj.spec ~= nil and obj.spec.suspend == true then
  return result("Suspended", "suspended: no run starts")
end

local reconciling = condition("Reconciling")
if isTrue(reconciling) then
  return result("Progressing", messageOf(reconciling))
end

local draining = condition("Draining")
if isTrue(draining) and draining.reason == "WorkersPending" then
  return result("Degraded", messageOf(draining))
end

local visible = nil
if status.queue ~= nil and status.queue.visibleMessages ~= nil then
  visible = tostring(status.queue.visibleMessages) .. " messages visible"
end

if isTrue(draining) then
  local parts = {}
  local run = status.activeRun
  if run ~= nil and run.name ~= nil then
    table.insert(parts, "run " .. run.name)
    local workers = run.runningOfWanted
    if workers == nil or workers == "" then
      workers = tostring(run.running or 0) .. "/" .. tostring(run.workers or 0)
    end
    table.insert(parts, workers .. " workers")
  else
    table.insert(parts, messageOf(draining))
  end
  if visible ~= nil then
    table.insert(parts, visible)
  end
  return result("Healthy", "draining: " .. table.concat(parts, ", "))
end

if visible ~= nil then
  return result("Healthy", "watching: " .. visible)
end
return result("Healthy", "watching: " .. messageOf(ready))
