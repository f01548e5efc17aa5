-- Uses Argo CD's safe os library through require, as many community checks do.
local os = require("os")
local hs = {}
local y, m, d = string.match(obj.spec.expiresOn or "", "^(%d+)-(%d+)-(%d+)$")
if y == nil then
  hs.status = "Degraded"
  hs.message = "spec.expiresOn is not a date"
  return hs
end
local expires = os.time({year = tonumber(y), month = tonumber(m), day = tonumber(d)})
if os.time() < expires then
  hs.status = "Healthy"
  hs.message = "Lease valid until " .. obj.spec.expiresOn
else
  hs.status = "Degraded"
  hs.message = "Lease expired on " .. obj.spec.expiresOn
end
return hs
