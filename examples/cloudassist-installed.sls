# The Cloud Assistant client's package at a version, the client running.  The pillar key
# cloudassist_install holds the arguments of cloudassist.installed: source (salt://, an
# absolute path, or https:// with source_hash), version, source_hash, updates (frozen or
# allowed).  Applied batch by batch by orch/cloudassist_upgrade.sls.
{%- set install = salt['pillar.get']('cloudassist_install', {}) %}
cloud-assistant-installed:
  cloudassist.installed:
{%- for key, value in install|dictsort %}
    - {{ key }}: {{ value|yaml_encode }}
{%- endfor %}
