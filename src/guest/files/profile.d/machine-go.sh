# shellcheck shell=sh
# machine (go layer): the Go toolchain and `go install`ed binaries.
for __machine_dir in /usr/local/go/bin "$HOME/go/bin"; do
  case ":$PATH:" in
  *":$__machine_dir:"*) ;;
  *) PATH="$PATH:$__machine_dir" ;;
  esac
done
unset __machine_dir
export PATH
