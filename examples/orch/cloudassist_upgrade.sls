# Upgrade (or install) the Cloud Assistant client across the fleet in batches, and end the
# roll-out at the first minion whose client does not verify at the new version.  On the
# master, with this folder and ../cloudassist-installed.sls in its file_roots and the package
# in it too (e.g. /srv/salt/cloudassist/aliyun-assist_2.2.4.1065.deb):
#
#   salt-run state.orchestrate orch.cloudassist_upgrade pillar='{"source": "salt://cloudassist/aliyun-assist_2.2.4.1065.deb", "version": "2.2.4.1065"}'
#   salt-run state.orchestrate orch.cloudassist_upgrade pillar='{"target": "web*", "batch": 5, "source": "...", "version": "...", "updates": "frozen"}'
#
# pillar: source and version (required), source_hash (for https:// sources), updates
# (frozen|allowed), allow_downgrade, timeout (cloudassist.installed's arguments), target
# (default '*'), tgt_type (default glob), batch (default 10%).  Each
# step runs only after the one before succeeded; failhard ends the run at a failed step
# (salt-run then exits non-zero):
#   1. every targeted minion reports its client (cloudassist.report with require_installed): no
#      roll-out into a fleet where a minion is down or cannot tell its status;
#   2. the upgrade, one batch after the other: the state cloudassist-installed.sls
#      (cloudassist.installed, which checks dpkg, the binary's -v and the running client
#      afterwards); failhard ends the batch run at the first minion that fails, and the
#      minions of later batches are left as they were;
#   3. the report again: the versions now.
{%- set target = salt['pillar.get']('target', '*') %}
{%- set tgt_type = salt['pillar.get']('tgt_type', 'glob') %}
{%- set install = {} %}
{%- for key in ('source', 'version', 'source_hash', 'updates', 'allow_downgrade', 'timeout') %}
{%-   if salt['pillar.get'](key) %}
{%-     do install.update({key: salt['pillar.get'](key)}) %}
{%-   endif %}
{%- endfor %}

every minion reports its client:
  salt.runner:
    - name: cloudassist.report
    - tgt: {{ target|yaml_encode }}
    - tgt_type: {{ tgt_type|yaml_encode }}
    - require_installed: True
    - failhard: True

upgrade the client batch by batch:
  salt.state:
    - tgt: {{ target|yaml_encode }}
    - tgt_type: {{ tgt_type|yaml_encode }}
    - sls: cloudassist-installed
    - batch: {{ salt['pillar.get']('batch', '10%')|string|yaml_encode }}
    - pillar:
        cloudassist_install: {{ install|json }}
    - failhard: True
    - require:
      - salt: every minion reports its client

the fleet after the upgrade:
  salt.runner:
    - name: cloudassist.report
    - tgt: {{ target|yaml_encode }}
    - tgt_type: {{ tgt_type|yaml_encode }}
    - require:
      - salt: upgrade the client batch by batch
