#!/usr/bin/env bash
# The man pages and the bash completion the packages ship (packaging/make_docs.sh, built into
# BUILD/packaging/) match the command line: one page per subcommand of `berth --help` (and of
# `berth cache --help`), each with its subcommand's options; every subcommand's --help is a
# CLI11 help with a usage line; the completion offers exactly the subcommands of `berth --help`
# and each subcommand's options.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
build=${BERTH_BUILD_DIR:-$top/build}
berth=${BERTH_BIN:-$build/image_tool/berth}
docs=$build/packaging

fail() { echo "FAIL: $*" >&2; exit 1; }
command -v help2man >/dev/null || { echo "SKIP: help2man not installed (scripts/install-deps)"; exit 77; }
[ -f "$docs/docs.stamp" ] || fail "$docs/docs.stamp missing: build the berth_docs target"
[ "$docs/docs.stamp" -nt "$berth" ] || fail "man pages older than $berth: build the berth_docs target"

# Subcommands of a help text, read here independently of make_docs.sh: the lines between
# "Subcommands:" and the next blank line.
subcommands_of() { sed -n '/^Subcommands:$/,/^$/p' | sed -n 's/^  \([a-z][a-z0-9-]*\) .*/\1/p'; }
long_options_of() { sed -n '/^Options:$/,/^[^ ]/p' | grep -o -- '--[a-z][a-z0-9-]*' | sort -u; }

# What bash completes for the words given (the last one is being completed).
complete_words() {
  bash -c 'source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _berth
           printf "%s\n" "${COMPREPLY[@]}"' _ "$docs/bash-completion/berth" "$@" | sort
}

top_subs=$("$berth" --help | subcommands_of)
[ "$(wc -l <<<"$top_subs")" -ge 8 ] || fail "berth --help lists few subcommands: $top_subs"
grep -qx pull <<<"$top_subs" || fail "berth --help does not list pull: $top_subs"
[ "$(complete_words berth '')" = "$(sort <<<"$top_subs")" ] ||
  fail "completion of 'berth ' differs from berth --help: $(complete_words berth '' | paste -sd ' ') vs $(paste -sd ' ' <<<"$top_subs")"
[ "$(complete_words berth pu)" = "$(printf 'pull\npush')" ] || fail "completion of 'berth pu': $(complete_words berth pu)"

checked=0
check_command() { # words after berth
  local name help page
  name=$(IFS=-; echo "berth-$*")
  help=$("$berth" "$@" --help) || fail "berth $* --help failed"
  grep -q "^Usage: berth $* \[OPTIONS\]" <<<"$help" || fail "berth $* --help has no usage line: $help"
  page=$docs/man/$name.1.gz
  [ -s "$page" ] || fail "no man page $page for berth $*"
  local text
  text=$(MANWIDTH=200 man -l "$page" 2>/dev/null) || fail "man -l $page failed"
  grep -q "^NAME" <<<"$text" && grep -q "^SYNOPSIS" <<<"$text" && grep -q "^OPTIONS" <<<"$text" ||
    fail "$page lacks NAME/SYNOPSIS/OPTIONS: $text"
  grep -q "berth $* \[OPTIONS\]" <<<"$text" || fail "$page: synopsis is not 'berth $* [OPTIONS]'"
  local completion option
  completion=$(complete_words berth "$@" --)
  for option in $(long_options_of <<<"$help"); do
    grep -qx -- "$option" <<<"$completion" || fail "completion of 'berth $* --' lacks $option"
    grep -qF -- "$option" <<<"$text" || fail "$page does not mention $option"
  done
  checked=$((checked + 1))
  local sub
  for sub in $(subcommands_of <<<"$help"); do check_command "$@" "$sub"; done
}
for sub in $top_subs; do check_command "$sub"; done
[ "$(complete_words berth cache '')" = "$("$berth" cache --help | subcommands_of | sort)" ] ||
  fail "completion of 'berth cache ' differs from berth cache --help"
# After the subcommand and an operand, words complete as files (no subcommand offered).
[ -z "$(complete_words berth exec img.sqsh '')" ] || fail "completion offers words after an operand"

pages=$(find "$docs/man" -name '*.1.gz' | wc -l)
[ "$pages" -eq $((checked + 1)) ] || fail "$pages man pages for $checked subcommands + berth"
MANWIDTH=200 man -l "$docs/man/berth.1.gz" | grep -q 'berth-pull(1)' || fail "berth.1 does not refer to berth-pull(1)"
echo "PASS: $checked subcommand pages, completion matches berth --help"
