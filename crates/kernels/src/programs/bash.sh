# The bash kernel: one interactive bash per code context, reading its
# commands from the request pipe. This text is its first input; then each
# request is one line (see request.rs):
#   __e2b_begin NAME VALUE ...; eval $'<code>' </dev/null 4>&-; __e2b_ok=$?
# The cell runs at the shell's top level, so variables, functions, aliases,
# `cd` and exports persist. SIGINT, as in a terminal, abandons the rest of
# the line; PROMPT_COMMAND runs before the next one and finishes the
# execution either way. Replies go to fd 4 as JSON lines.
PS1='' PS2=''; exec 2>&5 5>&- # no prompts, then stderr back
set +o history +H
unset MAIL MAILCHECK HISTFILE
__e2b_count=0

# Starts an execution: exports its env vars, remembering what they were.
__e2b_begin() {
  __e2b_count=$((__e2b_count + 1))
  __e2b_saved=()
  unset __e2b_ok __e2b_exit
  while (($# >= 2)); do
    if [[ -v $1 ]]; then __e2b_saved+=("$1" "1${!1@a}" "${!1}"); else __e2b_saved+=("$1" 0 ""); fi
    export "$1=$2"
    shift 2
  done
  __e2b_running=1
  printf '{"type":"started","count":%d}\n' "$__e2b_count" >&4
}

# Ends it: restores the env, reports a non-zero status as E2B's bash kernel
# does (no name, the status as the value) or the interrupt, then "done".
__e2b_end() {
  local status=$?
  [[ -n ${__e2b_running-} ]] || return 0
  unset __e2b_running
  set -- "${__e2b_saved[@]}"
  while (($# >= 3)); do
    if [[ $2 == 0 ]]; then
      unset "$1"
    else
      declare -g "$1=$3"
      if [[ $2 == *x* ]]; then export "$1"; else export -n "$1"; fi
    fi
    shift 3
  done
  if [[ -n ${__e2b_exit-} ]]; then
    status=$__e2b_exit
  elif [[ -z ${__e2b_ok-} ]]; then
    printf '{"type":"error","name":"ExecutionAborted","value":"Execution was aborted","traceback":""}\n' >&4
    status=0
  else
    status=$__e2b_ok
  fi
  if ((status != 0)); then
    printf '{"type":"error","name":"","value":"%d","traceback":""}\n' "$status" >&4
  fi
  printf '{"type":"done"}\n' >&4
}

# `exit N` in a cell ends the cell with status N and keeps the shell and its
# state; in a subshell it exits the subshell as usual.
exit() {
  if [[ $BASHPID == "$$" && -n ${__e2b_running-} ]]; then
    __e2b_exit=${1-$?}
    kill -INT $$
  else
    builtin exit "$@"
  fi
}

declare -r PROMPT_COMMAND=__e2b_end
printf '{"type":"ready","mode":"bash","version":"%s"}\n' "$BASH_VERSION" >&4
