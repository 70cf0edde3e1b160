-- Resumes the drainer: triggers start runs again.
obj.spec.suspend = false
return obj
