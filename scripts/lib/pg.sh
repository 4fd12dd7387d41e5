# shellcheck shell=bash
# A throwaway PostgreSQL cluster for tests and checks, sourced by scripts/test and scripts/sqlx-check:
# initdb + pg_ctl in a `mktemp -d` directory, listening on a Unix socket in that directory only, tuned for
# speed over durability (the data dies with the run). As root the server runs as the `postgres` account,
# because initdb and postgres refuse to run as root.
#
#   pg_start_private [durable]
#                       start it; sets PG_TMP (the directory, also the socket directory). `durable`
#                       keeps PostgreSQL's default fsync and commit settings and takes the embedded
#                       cluster's other settings (benchmarks)
#   pg_stop_private     stop it and remove PG_TMP (idempotent: use it in an EXIT trap)
#   pg_url DB           the URL of database DB on it (sqlx and psql both accept it)
#   pg_psql ARGS...     psql, found next to the server binaries when possible

PG_SUPERUSER=wacrm
PG_AS=()
PG_TMP=

# The directory holding initdb, pg_ctl and postgres, like the embedded database in crates/core finds it:
# the first PATH entry that has all three (symlinks resolved, the real directory also has psql), then
# /usr/lib/postgresql/*/bin, highest version first.
pg_find_bin() {
  local dir real
  local -a path_dirs
  IFS=: read -ra path_dirs <<<"${PATH:-}"
  for dir in "${path_dirs[@]}"; do
    if [[ -n $dir && -x $dir/initdb && -x $dir/pg_ctl && -x $dir/postgres ]]; then
      real=$(dirname "$(readlink -f "$dir/initdb")")
      if [[ -x $real/pg_ctl && -x $real/postgres ]]; then dir=$real; fi
      printf '%s\n' "$dir"
      return 0
    fi
  done
  for dir in $(printf '%s\n' /usr/lib/postgresql/*/bin | sort -t/ -k4,4 -V -r); do
    if [[ -x $dir/initdb && -x $dir/pg_ctl && -x $dir/postgres ]]; then
      printf '%s\n' "$dir"
      return 0
    fi
  done
  return 1
}

# Runs a server program in PG_TMP (the server account may not enter the caller's directory).
pg_as() {
  (cd "$PG_TMP" && "${PG_AS[@]}" "$@")
}

pg_url() {
  printf 'postgres://%s@localhost:5432/%s?host=%s\n' "$PG_SUPERUSER" "$1" "$PG_TMP"
}

pg_psql() {
  local psql=psql
  if [[ -x $PG_BIN/psql ]]; then psql=$PG_BIN/psql; fi
  "$psql" -X -q -v ON_ERROR_STOP=1 "$@"
}

pg_start_private() {
  if ! PG_BIN=$(pg_find_bin); then
    echo "error: no PostgreSQL server binaries (initdb, pg_ctl, postgres) on PATH or in /usr/lib/postgresql/*/bin" >&2
    echo "hint: apt-get install postgresql (Debian/Ubuntu), or set DATABASE_URL to an existing server" >&2
    return 1
  fi
  PG_TMP=$(mktemp -d "${TMPDIR:-/tmp}/wacrm-pg.XXXXXX")
  if [[ $(id -u) == 0 ]]; then
    if ! id postgres >/dev/null 2>&1; then
      echo "error: running as root, but there is no postgres account to run the server as" >&2
      return 1
    fi
    chown postgres: "$PG_TMP"
    PG_AS=(runuser -u postgres --)
  fi
  chmod 700 "$PG_TMP"
  local durability="fsync off"
  if [[ ${1:-} == durable ]]; then durability="default durability"; fi
  echo "==> private PostgreSQL $("$PG_BIN/postgres" --version | awk '{print $3}') cluster in $PG_TMP" \
    "(socket only, $durability${PG_AS[*]:+, as postgres})"

  # C.UTF-8 when the system has it, C otherwise; initdb removes its directory when it fails.
  local initdb=("$PG_BIN/initdb" -D "$PG_TMP/data" -U "$PG_SUPERUSER" --auth=trust -E UTF8 --no-sync)
  if ! pg_as "${initdb[@]}" --locale=C.UTF-8 >"$PG_TMP/initdb.log" 2>&1 &&
    ! pg_as "${initdb[@]}" --locale=C >"$PG_TMP/initdb.log" 2>&1; then
    cat "$PG_TMP/initdb.log" >&2
    return 1
  fi
  # max_connections: parallel #[sqlx::test]s each hold a pool, plus the master connection.
  cat >>"$PG_TMP/data/postgresql.conf" <<EOF
listen_addresses = ''
port = 5432
unix_socket_directories = '$PG_TMP'
max_connections = 300
EOF
  if [[ ${1:-} != durable ]]; then
    printf '%s\n' 'fsync = off' 'synchronous_commit = off' 'full_page_writes = off' >>"$PG_TMP/data/postgresql.conf"
  else
    # The settings `wacrm` gives its own embedded cluster (crates/core/src/db/cluster.rs).
    printf '%s\n' "max_wal_size = '4GB'" "shared_buffers = '256MB'" "autovacuum_naptime = '10s'" \
      >>"$PG_TMP/data/postgresql.conf"
  fi
  if ! pg_as "$PG_BIN/pg_ctl" start -w -t 60 -s -D "$PG_TMP/data" -l "$PG_TMP/server.log"; then
    tail -n 20 "$PG_TMP/server.log" >&2 || true
    return 1
  fi
}

pg_stop_private() {
  if [[ -z $PG_TMP || ! -d $PG_TMP ]]; then return 0; fi
  if [[ -f $PG_TMP/data/postmaster.pid ]]; then
    # Immediate: the data is thrown away anyway.
    pg_as "$PG_BIN/pg_ctl" stop -w -t 60 -s -m immediate -D "$PG_TMP/data" || true
  fi
  rm -rf "$PG_TMP"
  echo "==> stopped and removed the private PostgreSQL cluster"
  PG_TMP=
}
