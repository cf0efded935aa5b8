# bash completion for imagestore(1)
_imagestore() {
    local cur prev words cword
    _init_completion 2>/dev/null || {
        cur=${COMP_WORDS[COMP_CWORD]}; prev=${COMP_WORDS[COMP_CWORD-1]}
        words=("${COMP_WORDS[@]}"); cword=$COMP_CWORD
    }
    local globals="--root --readonly --hooks --additional-store --json --help --version"
    local commands="images ls inspect tag untag rm rmi import gc prune check repair big-data usage lua help"
    case $prev in
        --root|--additional-store) COMPREPLY=($(compgen -d -- "$cur")); return ;;
        --hooks) COMPREPLY=($(compgen -f -- "$cur")); return ;;
        --sort) COMPREPLY=($(compgen -W "created id repository size tag" -- "$cur")); return ;;
        --by) COMPREPLY=($(compgen -W "size count" -- "$cur")); return ;;
        -f|--filter) COMPREPLY=($(compgen -W "dangling=true dangling=false reference= before= since=" -- "$cur")); return ;;
    esac
    # the command, and the --root given before it
    local i cmd="" root=""
    for ((i = 1; i < cword; i++)); do
        case ${words[i]} in
            --root) root=${words[i+1]}; ((i++)) ;;
            --additional-store|--hooks) ((i++)) ;;
            -*) ;;
            *) cmd=${words[i]}; break ;;
        esac
    done
    if [[ -z $cmd ]]; then
        COMPREPLY=($(compgen -W "$globals $commands" -- "$cur")); return
    fi
    local flags
    case $cmd in
        images|ls) flags="--all --digests --filter --sort --format --quiet --json --noheading" ;;
        inspect) flags="--format" ;;
        rm|rmi) flags="--force" ;;
        import) flags="--platform --verify-layers"; [[ $cur != -* ]] && { COMPREPLY=($(compgen -f -- "$cur")); return; } ;;
        gc|prune) flags="--dangling --older-than --keep-last --high --low --by --min-age --protect --dry-run --yes --store --quarantine-older-than" ;;
        check) flags="--isulad --default-registry" ;;
        lua) COMPREPLY=($(compgen -f -- "$cur")); return ;;
    esac
    if [[ $cur == -* ]]; then
        COMPREPLY=($(compgen -W "$flags --help" -- "$cur")); return
    fi
    case $cmd in
        inspect|tag|untag|rm|rmi|big-data)
            # image names and IDs of the store, when it can be read
            local refs
            refs=$(imagestore ${root:+--root "$root"} images --format '{{.ID}} {{.Name}}' 2>/dev/null)
            COMPREPLY=($(compgen -W "$refs" -- "$cur")) ;;
    esac
}
complete -F _imagestore imagestore
