# Stop the Cloud Assistant client across the fleet in batches, and end the roll-out at the
# first minion where the stop fails.  On the master, with this folder in its file_roots:
#
#   salt-run state.orchestrate orch.cloudassist_rolling_stop
#   salt-run state.orchestrate orch.cloudassist_rolling_stop pillar='{"target": "web*", "batch": "10%"}'
#
# pillar: target (default '*'), tgt_type (default glob), batch (default 10%), stop_watchdog
# (default False).  Each step runs only after the one before succeeded, and failhard ends the
# run at a failed step (salt-run then exits non-zero):
#   1. every targeted minion reports its client (cloudassist.report with require_installed): no
#      roll-out into a fleet where a minion is down, cannot tell its status or has no client;
#   2. the stop, one batch after the other: the state cloudassist-stopped.sls, because a state
#      run tells failure from success in batch mode (salt.function's batch returns lose the
#      minions' retcodes), and failhard ends the batch run at the first minion that fails;
#   3. the report again: what is stopped now.
{%- set target = salt['pillar.get']('target', '*') %}
{%- set tgt_type = salt['pillar.get']('tgt_type', 'glob') %}

every minion reports its client:
  salt.runner:
    - name: cloudassist.report
    - tgt: {{ target|yaml_encode }}
    - tgt_type: {{ tgt_type|yaml_encode }}
    - require_installed: True
    - failhard: True

stop the client batch by batch:
  salt.state:
    - tgt: {{ target|yaml_encode }}
    - tgt_type: {{ tgt_type|yaml_encode }}
    - sls: cloudassist-stopped
    - batch: {{ salt['pillar.get']('batch', '10%')|string|yaml_encode }}
    - pillar:
        cloudassist_stop_watchdog: {{ salt['pillar.get']('stop_watchdog', False)|yaml_encode }}
    - failhard: True
    - require:
      - salt: every minion reports its client

the fleet after the stop:
  salt.runner:
    - name: cloudassist.report
    - tgt: {{ target|yaml_encode }}
    - tgt_type: {{ tgt_type|yaml_encode }}
    - require:
      - salt: stop the client batch by batch
