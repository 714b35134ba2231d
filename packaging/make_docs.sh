#!/usr/bin/env bash
# Generates, from the built `berth` itself, what the packages ship beside it:
#   OUTDIR/man/berth.1.gz, berth-SUB.1.gz (and berth-SUB-SUBSUB.1.gz for `berth cache list`...)
#                          with help2man from `berth --help` / `berth SUB --help`
#   OUTDIR/bash-completion/berth   bash completion of the subcommands and of each one's options
# so that neither can drift from the command line (tests/packaging/test_docs.sh checks both).
#
#   packaging/make_docs.sh BERTH VERSION OUTDIR
set -euo pipefail
[ $# -eq 3 ] || { echo "usage: $0 BERTH VERSION OUTDIR" >&2; exit 2; }
berth=$(realpath "$1") version=$2 out=$3
command -v help2man >/dev/null || { echo "$0: help2man is not installed (scripts/install-deps)" >&2; exit 1; }

# CLI11's help: "Subcommands:" then one "  NAME   description" line each, up to a blank line.
subcommands() { # help text on stdin -> "NAME<TAB>description" lines
  awk '/^Subcommands:/ { on = 1; next } on && /^$/ { on = 0 } on && /^  [a-z]/ {
         name = $1; sub(/^  [^ ]+ +/, ""); print name "\t" $0 }'
}
# Option names of one help text: the first column of "Options:" lines ("-o,--output TEXT").
options() {
  awk '/^Options:/ { on = 1; next } on && /^[^ ]/ { on = 0 } on && /^  -/ { print $1 }' |
    tr ',' '\n' | sort -u | paste -sd ' '
}

rm -rf "$out/man" "$out/bash-completion" "$out/bin"
mkdir -p "$out/man" "$out/bash-completion" "$out/bin"

# help2man runs PROGRAM --help; for `berth cache list` that is a wrapper named berth-cache-list,
# which also makes the page's name (BERTH-CACHE-LIST(1), like git's pages).
man_page() { # words of the command (without "berth"), one-line description
  local description=$1; shift
  local name program
  name=$(IFS=-; echo "berth${*:+-$*}")
  program=$berth
  if [ $# -gt 0 ]; then
    program=$out/bin/$name
    printf '#!/bin/sh\nexec %q %s "$@"\n' "$berth" "$*" >"$program"
    chmod +x "$program"
  fi
  help2man --no-info --version-string="$version" --name="$description" \
    --source="berth $version" --manual="berth manual" \
    ${see_also:+--include="$see_also"} --output="$out/man/$name.1" "$program"
  gzip -9n -f "$out/man/$name.1"
}

# Completion tables: subcommands and options of each command path ("berth", "berth cache", ...).
declare -A sub_table opt_table
walk() { # words of the command path
  local help path name description
  path=$(echo berth "$@")
  help=$("$berth" "$@" --help)
  opt_table[$path]=$(options <<<"$help")
  local names=()
  while IFS=$'\t' read -r name description; do
    names+=("$name")
    man_page "$description" "$@" "$name" </dev/null
    walk "$@" "$name" </dev/null
  done < <(subcommands <<<"$help")
  sub_table[$path]=${names[*]:-}
}

# berth.1 lists the subcommands' pages under SEE ALSO.
see_also=$out/bin/see-also.h2m
{
  echo "[SEE ALSO]"
  "$berth" --help | subcommands | cut -f1 | sed 's/.*/.BR berth-& (1),/' | sed '$ s/,$//'
} >"$see_also"
man_page "container images for Slurm clusters, and a runtime to use them"
see_also=$out/bin/see-berth.h2m
printf '[SEE ALSO]\n.BR berth (1)\n' >"$see_also"
walk

{
  echo "# bash completion for berth, generated from \`berth --help\` by packaging/make_docs.sh."
  echo "# Completes subcommands and options; anything else completes as a file name."
  echo "declare -A _berth_subcommands=("
  for path in "${!sub_table[@]}"; do printf '  [%q]=%q\n' "$path" "${sub_table[$path]}"; done | sort
  echo ")"
  echo "declare -A _berth_options=("
  for path in "${!opt_table[@]}"; do printf '  [%q]=%q\n' "$path" "${opt_table[$path]}"; done | sort
  echo ")"
  cat <<'EOF'
_berth() {
  local cur=${COMP_WORDS[COMP_CWORD]} path=berth word i positional=0
  # The command path: each word that is a subcommand of the path so far (berth cache list).
  for ((i = 1; i < COMP_CWORD; i++)); do
    word=${COMP_WORDS[i]}
    if [[ $word != -* && " ${_berth_subcommands[$path]} " == *" $word "* ]]; then
      path="$path $word"
    elif [[ $word != -* ]]; then
      positional=1
    fi
  done
  COMPREPLY=()
  if [[ $cur == -* ]]; then
    mapfile -t COMPREPLY < <(compgen -W "${_berth_options[$path]}" -- "$cur")
  elif [[ $positional == 0 && -n ${_berth_subcommands[$path]} ]]; then
    mapfile -t COMPREPLY < <(compgen -W "${_berth_subcommands[$path]}" -- "$cur")
  fi
}
complete -o default -F _berth berth
EOF
} >"$out/bash-completion/berth"
rm -rf "$out/bin"
