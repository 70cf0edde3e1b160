-- Requests a drain now: the operator acts on every new value of the annotation
-- drain.queuedrainer.io/requested-at (and echoes the one it handled in
-- status.lastHandledDrainRequest). The value is the current UTC time, RFC 3339.
if obj.spec ~= nil and obj.spec.suspend == true then
  error("the drainer is suspended, so no run would start: resume it first", 0)
end
if obj.metadata.annotations == nil then
  obj.metadata.annotations = {}
end
obj.metadata.annotations["drain.queuedrainer.io/requested-at"] = os.date("!%Y-%m-%dT%H:%M:%SZ")
return obj
