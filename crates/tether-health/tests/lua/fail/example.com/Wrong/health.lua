return {status = "Healthy", message = "always"}
