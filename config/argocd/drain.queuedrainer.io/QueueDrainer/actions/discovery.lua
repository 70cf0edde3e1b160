-- Argo CD actions for drain.queuedrainer.io/QueueDrainer.
--
--   drain-now  requests a run now (annotation drain.queuedrainer.io/requested-at);
--              disabled while the drainer is suspended, as no run would start.
--   suspend    sets spec.suspend to true; disabled when already suspended.
--   resume     sets spec.suspend to false; disabled when not suspended.
--   redrive    asks the operator to move the dead-letter queue's messages back to the
--              queue (annotation drain.queuedrainer.io/redrive-requested-at); enabled
--              only while status.queue.deadLetter.visibleMessages is above zero.
--
-- Argo CD runs this without the Lua standard libraries: no string, math, io or require.

local suspended = obj.spec ~= nil and obj.spec.suspend == true

local deadLetters = 0
if obj.status ~= nil and obj.status.queue ~= nil and obj.status.queue.deadLetter ~= nil then
  deadLetters = tonumber(obj.status.queue.deadLetter.visibleMessages) or 0
end

local actions = {}
actions["drain-now"] = {
  ["disabled"] = suspended,
  ["iconClass"] = "fa fa-fw fa-bolt",
  ["displayName"] = "Drain now",
}
actions["suspend"] = {
  ["disabled"] = suspended,
  ["iconClass"] = "fa fa-fw fa-pause-circle",
  ["displayName"] = "Suspend",
}
actions["resume"] = {
  ["disabled"] = not suspended,
  ["iconClass"] = "fa fa-fw fa-play-circle",
  ["displayName"] = "Resume",
}
actions["redrive"] = {
  ["disabled"] = deadLetters <= 0,
  ["iconClass"] = "fa fa-fw fa-undo",
  ["displayName"] = "Redrive dead letters",
}
return actions
