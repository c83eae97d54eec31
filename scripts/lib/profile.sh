# shellcheck shell=bash
# profile_flags NAME: print the Deno permission flags of scripts/profiles/NAME.flags, one per line,
# with comments dropped and ${VAR} references expanded from the current environment. Empty list entries
# left by unset variables are removed (",," and trailing ","). BERTH_USER_RUNTIME_DIR defaults to
# $XDG_RUNTIME_DIR, else /run/user/<uid> of the user running this. The same rules, in TypeScript:
# expandProfile() in src/permissions.ts (berth re-running itself for --detach, the tests).
profile_flags() {
  # Pure bash (no sed or $(…) per line): scripts/berth runs this before every berth command, and on a loaded
  # node each forked helper costs tens of milliseconds (#17).
  local file
  file="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/profiles/$1.flags"
  [ -f "$file" ] || { echo "unknown permission profile \"$1\" (no $file)" >&2; return 2; }
  local BERTH_USER_RUNTIME_DIR="${BERTH_USER_RUNTIME_DIR:-${XDG_RUNTIME_DIR:-/run/user/$EUID}}"
  local line
  while IFS= read -r line || [ -n "$line" ]; do
    line="${line%%#*}"
    line="${line#"${line%%[![:space:]]*}"}"
    line="${line%"${line##*[![:space:]]}"}"
    [ -n "$line" ] || continue
    while [[ $line =~ \$\{([A-Za-z_][A-Za-z0-9_]*)\} ]]; do
      line="${line/"${BASH_REMATCH[0]}"/${!BASH_REMATCH[1]:-}}"
    done
    while [[ $line == *,,* ]]; do line="${line//,,/,}"; done
    line="${line%,}"
    line="${line/=,/=}"
    printf '%s\n' "$line"
  done <"$file"
}
