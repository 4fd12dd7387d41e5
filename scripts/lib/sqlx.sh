# shellcheck shell=bash
# Regenerating sqlx's offline query data without sqlx-cli, sourced by scripts/sqlx-check and
# scripts/sqlx-prepare.

# sqlx_expand_into DIR URL: checks the whole workspace with every checked query macro (`query!`,
# `query_as!`, ...) expanded online against the database at URL; each expansion saves its query's data
# as DIR/query-<hash>.json, exactly the files of the committed .sqlx/ cache.
sqlx_expand_into() {
  local out=$1 url=$2
  # Cargo does not track the environment the macros read, so a crate it thinks is fresh would not
  # re-expand them. Touching the files that invoke the macros makes it recompile their crates, and
  # rustc always reruns proc macros. Run it while nothing else builds in this tree: a concurrent build
  # could recompile a touched crate with its own environment first.
  grep -rlE --include='*.rs' '\bquery(_as|_scalar|_file|_file_as|_file_scalar)?(_unchecked)?!' crates tests |
    xargs -r touch
  SQLX_OFFLINE=false SQLX_OFFLINE_DIR="$out" DATABASE_URL="$url" cargo check --workspace --all-targets --quiet
}
