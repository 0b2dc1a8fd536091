"""`festina shell-hook bash|zsh`: the terminal as a source of events.

The printed hook goes in the shell's rc file as `eval "$(festina shell-hook bash)"`. After
each command it posts the command line, exit status, duration and working directory to
the local API (`POST /v1/events`), as a `terminal` event, or a `failed-command` event when
the status is not 0. It never holds up the prompt: curl runs in the background with a
two-second limit, and nothing is posted when curl is missing. The token is read into the
shell when the hook is evaluated (not written into the rc file) and handed to curl
through a file descriptor, so it never shows in the process list.

Commands typed with a leading space, and (in bash) commands the shell keeps out of its
history, are never posted.
"""

from __future__ import annotations

import shlex

SHELLS = ("bash", "zsh")
TIMEOUT_S = 2
# Longer command lines are cut: an event's text holds at most 4000 characters.
MAX_COMMAND_CHARS = 2000

# Shared by both shells: JSON string escaping and the post, in the common subset of
# bash and zsh. Control characters other than newline and tab become spaces.
_COMMON = r"""
__festina_json() {
    local s=$1
    s=${s//\\/\\\\}; s=${s//\"/\\\"}
    s=${s//$'\n'/\\n}; s=${s//$'\t'/\\t}; s=${s//$'\r'/ }
    s=${s//[$'\001'-$'\037']/ }
    printf '"%s"' "$s"
}
__festina_post() {  # command, exit status, start and end in unix microseconds, shell
    command -v curl >/dev/null 2>&1 || return 0
    local cmd=${1:0:__MAX__} exit_status=$2 ms=$(( ($4 - $3) / 1000 )) kind=terminal
    [[ $exit_status == 0 ]] || kind=failed-command
    local took="$(( ms / 1000 )).$(( ms % 1000 / 100 )) s"
    local text="\$ $cmd"$'\n'"exit status $exit_status after $took in $PWD"
    local body="{\"source\":\"shell\",\"kind\":\"$kind\",\"app\":\"$5\",\
\"title\":$(__festina_json "\$ ${cmd:0:200}"),\"text\":$(__festina_json "$text"),\
\"time\":\"${4:0:-6}.${4: -6}\",\"attributes\":{\"command\":$(__festina_json "$cmd"),\
\"exit_status\":$exit_status,\"duration_s\":$(( ms / 1000 )).$(printf %03d $(( ms % 1000 ))),\
\"cwd\":$(__festina_json "$PWD"),\"shell\":\"$5\"}}"
    ( curl -s -o /dev/null --max-time __TIMEOUT__ \
        -H @<(printf 'Authorization: Bearer %s\n' "$__festina_token") \
        -H 'Content-Type: application/json' --data-binary @- "$__festina_url" \
        <<<"$body" >/dev/null 2>&1 & )
}
"""

_BASH = r"""
__festina_started=
__festina_seen=
__festina_status() { __festina_exit=$?; }
__festina_preexec() {
    [[ -z $__festina_started && $BASH_COMMAND != __festina_* ]] || return 0
    __festina_started=${EPOCHREALTIME//[!0-9]/}
}
__festina_precmd() {
    local started=$__festina_started line
    __festina_started=
    [[ -n $started ]] || return 0
    line=$(HISTTIMEFORMAT= builtin history 1)
    # Not in the history (ignorespace, ignoredups, history off): not festina's either.
    [[ $line =~ ^\ *([0-9]+)\*?\ \ (.*)$ && ${BASH_REMATCH[1]} != "$__festina_seen" ]] ||
        return 0
    __festina_seen=${BASH_REMATCH[1]}
    [[ ${BASH_REMATCH[2]} == ' '* ]] && return 0
    __festina_post "${BASH_REMATCH[2]}" "$__festina_exit" "$started" \
        "${EPOCHREALTIME//[!0-9]/}" bash
}
PROMPT_COMMAND="__festina_status${PROMPT_COMMAND:+;$PROMPT_COMMAND};__festina_precmd"
# Last: from here on, the next command the trap sees is the user's.
trap '__festina_preexec' DEBUG
"""

_ZSH = r"""
zmodload zsh/datetime
autoload -Uz add-zsh-hook
__festina_started=
__festina_preexec() {
    [[ $1 == ' '* ]] && return 0
    __festina_command=$1
    __festina_started=$(( epochtime[1] * 1000000 + epochtime[2] / 1000 ))
}
__festina_precmd() {
    local exit_status=$? started=$__festina_started
    __festina_started=
    [[ -n $started ]] || return 0
    __festina_post "$__festina_command" "$exit_status" "$started" \
        $(( epochtime[1] * 1000000 + epochtime[2] / 1000 )) zsh
}
add-zsh-hook preexec __festina_preexec
add-zsh-hook precmd __festina_precmd
"""


def hook_script(shell: str, url: str, token: str) -> str:
    """The hook for `shell`, posting to the events endpoint at `url` with `token`."""
    if shell not in SHELLS:
        raise ValueError(f"no hook for {shell!r}; festina has one for {' and '.join(SHELLS)}")
    head = (
        f"# festina: post each command to {url} (eval this in your ~/.{shell}rc)\n"
        f"__festina_url={shlex.quote(url)}\n"
        f"__festina_token={shlex.quote(token)}\n"
    )
    common = _COMMON.replace("__MAX__", str(MAX_COMMAND_CHARS)).replace(
        "__TIMEOUT__", str(TIMEOUT_S)
    )
    return head + common + (_BASH if shell == "bash" else _ZSH)
