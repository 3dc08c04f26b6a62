# bash completion for infra: commands, options, the environments a
# topology declares (-e), and resource addresses of its state (ssh,
# import, state rm). Installed as share/bash-completion/completions/infra.

# The topology named on the command line, or the one infra env/ssh would use.
_infra_topology()
{
    local w
    for w in "${COMP_WORDS[@]:2}"; do
        case $w in *.yaml | *.yml) [ -f "$w" ] && { printf '%s\n' "$w"; return; } ;; esac
    done
    if [ -n "${INFRA_TOPOLOGY:-}" ]; then
        printf '%s\n' "$INFRA_TOPOLOGY"
    elif [ -f infra.yaml ]; then
        printf '%s\n' infra.yaml
    fi
}

# The environment names of a topology: the keys under its top-level
# "environments:" mapping (block style).
_infra_environments()
{
    awk '
        /^environments:[ \t]*(#.*)?$/ { inside = 1; indent = -1; next }
        inside && /^[^ \t#]/ { exit }
        inside && /^[ \t]+[A-Za-z0-9_-]+:/ {
            match($0, /^[ \t]+/)
            if (indent < 0) indent = RLENGTH
            if (RLENGTH == indent) { k = $0; sub(/^[ \t]+/, "", k); sub(/:.*/, "", k); print k }
        }
    ' "$1" 2>/dev/null
}

# The resource addresses the state of the topology records.
_infra_addresses()
{
    local topo=$1 env=$2 dir name
    infra state list "$topo" ${env:+-e "$env"} 2>/dev/null && return
    command -v jq >/dev/null || return
    name=$(awk '/^name:/ { v = $2; gsub(/["'\'']/, "", v); print v; exit }' "$topo" 2>/dev/null)
    dir=$(dirname "$topo")/.infra
    jq -r '.resources | keys[]' "$dir/$name.${env:-default}.json" 2>/dev/null
}

_infra()
{
    local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}
    local commands="validate plan up apply down destroy status output graph unlock import state env ssh schema plugins plugin version help"
    local options="-e --env --var --var-file --state-dir --parallelism --refresh=false --json --region -y --yes --force -v --verbose"
    COMPREPLY=()
    if [ "$COMP_CWORD" -eq 1 ]; then
        COMPREPLY=($(compgen -W "$commands" -- "$cur"))
        return
    fi
    local cmd=${COMP_WORDS[1]} topo env="" i
    for ((i = 2; i < COMP_CWORD; i++)); do
        case ${COMP_WORDS[i]} in
            -e | --env) env=${COMP_WORDS[i+1]} ;;
            --env=*) env=${COMP_WORDS[i]#--env=} ;;
        esac
    done
    case $prev in
        -e | --env)
            topo=$(_infra_topology)
            [ -n "$topo" ] && COMPREPLY=($(compgen -W "$(_infra_environments "$topo")" -- "$cur"))
            return ;;
        --var-file)
            COMPREPLY=($(compgen -f -- "$cur"))
            return ;;
        --state-dir)
            COMPREPLY=($(compgen -d -- "$cur"))
            return ;;
        --var | --parallelism | --region)
            return ;;
    esac
    if [[ $cur == -* ]]; then
        COMPREPLY=($(compgen -W "$options" -- "$cur"))
        return
    fi
    case $cmd in
        state)
            if [ "$COMP_CWORD" -eq 2 ]; then
                COMPREPLY=($(compgen -W "rm list show mv pull push" -- "$cur"))
                return
            fi ;;
        plugin)
            if [ "$COMP_CWORD" -eq 2 ]; then
                COMPREPLY=($(compgen -W "check" -- "$cur"))
                return
            fi ;;
    esac
    topo=$(_infra_topology)
    case $cmd in
        ssh | import | state)
            if [ -n "$topo" ]; then
                local addresses
                addresses=$(_infra_addresses "$topo" "$env")
                [ "$cmd" = ssh ] && addresses=$(printf '%s\n' "$addresses" | grep -E '^(instance\.|cluster\.)')
                COMPREPLY=($(compgen -W "$addresses" -- "$cur"))
            fi
            case $cur in */* | .*) COMPREPLY+=($(compgen -f -X '!*.y*ml' -- "$cur")) ;; esac
            return ;;
    esac
    COMPREPLY=($(compgen -f -X '!*.y*ml' -- "$cur") $(compgen -d -- "$cur"))
    compopt -o filenames 2>/dev/null
}
complete -F _infra infra
