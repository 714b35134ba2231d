#!/usr/bin/env bash
# spank_berth.so must export only the symbols Slurm looks up (plugin_* and slurm_spank_*):
# anything else could clash with symbols of slurmstepd or of other plugins.
set -euo pipefail
plugin=${BERTH_PLUGIN:?}
exported=$(nm -D --defined-only "$plugin" | awk '{print $3}')
for required in plugin_name plugin_type plugin_version slurm_spank_init slurm_spank_init_post_opt; do
  grep -qx "$required" <<<"$exported" || { echo "missing export: $required"; exit 1; }
done
unexpected=$(grep -vE '^(plugin_|slurm_spank_)' <<<"$exported" || true)
if [ -n "$unexpected" ]; then
  echo "unexpected exports:"; echo "$unexpected"; exit 1
fi
echo "exports: $(tr '\n' ' ' <<<"$exported")"
