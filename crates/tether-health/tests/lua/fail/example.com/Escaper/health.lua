-- Tries to escape the sandbox; os.execute is not there.
os.execute("touch /tmp/tether-health-escaped")
return {status = "Healthy"}
