-- Suspends the drainer: no run starts while spec.suspend is true. A run that
-- is already active is not stopped.
obj.spec.suspend = true
return obj
