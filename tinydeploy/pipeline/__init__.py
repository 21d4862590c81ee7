"""The end-to-end pipeline (`tinydeploy run`) and its content-hash stage cache."""
