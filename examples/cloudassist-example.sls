# Keep the Cloud Assistant client running on every minion.
cloud-assistant:
  cloudassist.running
