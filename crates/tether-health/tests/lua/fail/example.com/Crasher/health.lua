-- obj.spec.missing is nil: indexing it raises an error.
local hs = {status = "Healthy", message = obj.spec.missing.field}
return hs
