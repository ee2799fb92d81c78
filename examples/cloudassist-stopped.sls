# Stop the Cloud Assistant client; with the pillar key cloudassist_stop_watchdog: True, stop its
# watchdog first.  Applied batch by batch by orch/cloudassist_rolling_stop.sls.
cloud-assistant-stopped:
  cloudassist.stopped:
    - stop_watchdog: {{ salt['pillar.get']('cloudassist_stop_watchdog', False) }}
