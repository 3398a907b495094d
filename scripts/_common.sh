# Shared settings for scripts/setup, scripts/test, scripts/demo and scripts/bench (sourced, not run).
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ODOO_PATH="${ODOO_PATH:-/opt/odoo}"
VENV="${VENV:-$ROOT/.venv}"
PY="$VENV/bin/python"
PGHOST="${PGHOST:-127.0.0.1}"
PGPORT="${PGPORT:-5432}"
# Odoo refuses to run as the `postgres` superuser: setup creates this role (CREATEDB) for it.
ODOO_DB_USER="${ODOO_DB_USER:-odoo}"
export PGHOST PGPORT
# pytest-odoo derives the module name from the folder holding __manifest__.py, so Odoo sees this
# checkout through a symlink named after the module, in an addons folder of its own.
ADDONS_LINK_DIR="$VENV/addons"
ADDONS_PATH="$ODOO_PATH/addons,$ODOO_PATH/odoo/addons,$ADDONS_LINK_DIR"
MODULE=account_bank_sync_ponto

die() { echo "ERROR: $*" >&2; exit 1; }

odoo_tree_ok() { [ -f "$ODOO_PATH/odoo-bin" ] && [ -f "$ODOO_PATH/odoo/release.py" ]; }

setup_stamp() {
  # Changes whenever a requirements file or the Odoo tree changes: setup reruns then.
  cat "$ROOT/requirements.txt" "$ODOO_PATH/requirements.txt" 2>/dev/null | sha1sum | cut -c1-12
}

ensure_setup() {
  if [ ! -f "$VENV/.setup-stamp" ] || [ "$(cat "$VENV/.setup-stamp")" != "$(setup_stamp)" ] \
     || [ ! -L "$ADDONS_LINK_DIR/$MODULE" ] || [ ! -f "$ODOO_CONF" ]; then
    "$ROOT/scripts/setup" || die "scripts/setup failed (see above)."
  fi
  write_odoo_conf  # cheap, and follows ODOO_PATH / ODOO_DATA_DIR of this run
}

ODOO_CONF="$VENV/odoo.conf"
# Machine-wide like the template database it goes with, so every checkout finds its files.
DATA_DIR="${ODOO_DATA_DIR:-${XDG_DATA_HOME:-$HOME/.local/share}/account_bank_sync_ponto}"

write_odoo_conf() {
  cat > "$ODOO_CONF" <<CONF
[options]
addons_path = $ADDONS_PATH
data_dir = $DATA_DIR
db_host = $PGHOST
db_port = $PGPORT
db_user = $ODOO_DB_USER
http_interface = 127.0.0.1
list_db = False
CONF
}

odoo_bin() { "$PY" "$ODOO_PATH/odoo-bin" -c "$ODOO_CONF" "$@"; }

psql_do() {
  # psql_do SQL [DB]: run one SQL statement as the Odoo role (on the maintenance database by default).
  "$PY" - "$1" "${2:-postgres}" <<PYEOF
import sys, psycopg2
conn = psycopg2.connect(host="$PGHOST", port=$PGPORT, user="$ODOO_DB_USER", dbname=sys.argv[2])
conn.autocommit = True
cur = conn.cursor()
cur.execute(sys.argv[1])
if cur.description:
    for row in cur.fetchall():
        print(*row)
PYEOF
}

db_exists() { [ -n "$(psql_do "SELECT 1 FROM pg_database WHERE datname = '$1'")" ]; }

template_name() {
  # One template per Odoo tree: base + account installed, statistics gathered (ANALYZE).
  local rev
  rev=$(git -C "$ODOO_PATH" rev-parse --short=10 HEAD 2>/dev/null || stat -c %Y "$ODOO_PATH/odoo/release.py")
  echo "ponto_tmpl_account_$rev"
}

ensure_template() {
  # Builds the template database once (about 30 s); every run then copies it (under a second).
  local tmpl
  tmpl=$(template_name)
  if ! db_exists "$tmpl" || [ ! -d "$DATA_DIR/filestore/$tmpl" ]; then
    echo "Building template database $tmpl (base + account, once)..."
    drop_db "$tmpl"
    drop_db "${tmpl}_build"
    odoo_bin -d "${tmpl}_build" -i account --stop-after-init --log-level=warn \
      || die "could not build the template database"
    psql_do "ANALYZE" "${tmpl}_build" >/dev/null
    psql_do "ALTER DATABASE \"${tmpl}_build\" RENAME TO \"$tmpl\""
    [ -d "$DATA_DIR/filestore/${tmpl}_build" ] && mv "$DATA_DIR/filestore/${tmpl}_build" "$DATA_DIR/filestore/$tmpl"
  fi
  echo "$tmpl"
}

copy_template() {
  # copy_template NEW_DB: a fresh database from the template, filestore included.
  local tmpl new=$1
  tmpl=$(template_name)
  drop_db "$new"
  psql_do "CREATE DATABASE \"$new\" TEMPLATE \"$tmpl\"" >/dev/null
  if [ -d "$DATA_DIR/filestore/$tmpl" ]; then
    mkdir -p "$DATA_DIR/filestore"
    cp -r "$DATA_DIR/filestore/$tmpl" "$DATA_DIR/filestore/$new"
  fi
}

drop_db() {
  psql_do "DROP DATABASE IF EXISTS \"$1\" WITH (FORCE)" >/dev/null
  rm -rf "${DATA_DIR:?}/filestore/$1"
}
