# shellcheck shell=bash
# machine: direnv helper, loaded from ~/.config/direnv/lib/. In a project's
# .envrc:
#
#   use op_env <environment-id>
#
# loads the variables that `machine secrets <project>` (run on the host) copied
# from 1Password into $XDG_RUNTIME_DIR/dev-secrets/<environment-id>.env, a
# tmpfs that is gone after a reboot.
use_op_env() {
  local id=${1:-}
  if [[ -z $id ]]; then
    log_error "use op_env: missing the environment id (use op_env <id>)"
    return 1
  fi
  local file="${XDG_RUNTIME_DIR:-/run/user/$(id -u)}/dev-secrets/$id.env"
  watch_file "$file"
  if [[ ! -r $file ]]; then
    local host project
    host=$(uname -n)
    project=${host#lima-}
    log_error "secrets for environment '$id' are not in this VM; on the host run: machine secrets $project"
    return 1
  fi
  dotenv "$file"
}
