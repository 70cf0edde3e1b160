-- Asks the operator to move the messages of the queue's dead-letter queue back
-- to the queue: it acts on every new value of the annotation
-- drain.queuedrainer.io/redrive-requested-at. The value is the current UTC
-- time, RFC 3339.
local deadLetters = 0
if obj.status ~= nil and obj.status.queue ~= nil and obj.status.queue.deadLetter ~= nil then
  deadLetters = tonumber(obj.status.queue.deadLetter.visibleMessages) or 0
end
if deadLetters <= 0 then
  error("the dead-letter queue has no visible messages to redrive", 0)
end
if obj.metadata.annotations == nil then
  obj.metadata.annotations = {}
end
obj.metadata.annotations["drain.queuedrainer.io/redrive-requested-at"] = os.date("!%Y-%m-%dT%H:%M:%SZ")
return obj
