# bash completion for zsimem(1).
# Generated from the command table by `zsimem __generate-docs bash`;
# do not edit: run scripts/generate-docs after changing the CLI.

# Prints the options valid after command $1 ('' before any command); with -v
# as $2, only those that take a value.
_zsimem_options() {
    case $1${2:+:$2} in
    '') echo '-h --help --version --backend --data-dir -o --output --request-id --policy --token-file --master-key-file --feature' ;;
    :-v) echo '--backend --data-dir -o --output --request-id --policy --token-file --master-key-file --feature' ;;
    get) echo '-h --help -n --namespace --version --at -p --path --backend --data-dir -o --output --request-id --policy --token-file --master-key-file --feature' ;;
    get:-v) echo '-n --namespace --version --at -p --path --backend --data-dir -o --output --request-id --policy --token-file --master-key-file --feature' ;;
    merge) echo '-h --help -n --namespace -t --tag --if-version --strict --idempotency-key --dry-run --version --backend --data-dir -o --output --request-id --policy --token-file --master-key-file --feature' ;;
    merge:-v) echo '-n --namespace -t --tag --if-version --idempotency-key --backend --data-dir -o --output --request-id --policy --token-file --master-key-file --feature' ;;
    history) echo '-h --help -n --namespace --limit --since --until --cursor --version --backend --data-dir -o --output --request-id --policy --token-file --master-key-file --feature' ;;
    history:-v) echo '-n --namespace --limit --since --until --cursor --backend --data-dir -o --output --request-id --policy --token-file --master-key-file --feature' ;;
    rollback) echo '-h --help -n --namespace --if-version -t --tag --version --backend --data-dir -o --output --request-id --policy --token-file --master-key-file --feature' ;;
    rollback:-v) echo '-n --namespace --if-version -t --tag --backend --data-dir -o --output --request-id --policy --token-file --master-key-file --feature' ;;
    diff) echo '-h --help -n --namespace --version --backend --data-dir -o --output --request-id --policy --token-file --master-key-file --feature' ;;
    diff:-v) echo '-n --namespace --backend --data-dir -o --output --request-id --policy --token-file --master-key-file --feature' ;;
    blame) echo '-h --help -n --namespace --version --backend --data-dir -o --output --request-id --policy --token-file --master-key-file --feature' ;;
    blame:-v) echo '-n --namespace --backend --data-dir -o --output --request-id --policy --token-file --master-key-file --feature' ;;
    summary) echo '-h --help -n --namespace -f --field -b --bucket -g --goal -w --window --since --until --as-of --version --backend --data-dir -o --output --request-id --policy --token-file --master-key-file --feature' ;;
    summary:-v) echo '-n --namespace -f --field -b --bucket -g --goal -w --window --since --until --as-of --backend --data-dir -o --output --request-id --policy --token-file --master-key-file --feature' ;;
    delete) echo '-h --help -n --namespace -y --yes --version --backend --data-dir -o --output --request-id --policy --token-file --master-key-file --feature' ;;
    delete:-v) echo '-n --namespace --backend --data-dir -o --output --request-id --policy --token-file --master-key-file --feature' ;;
    namespaces) echo '-h --help --version --backend --data-dir -o --output --request-id --policy --token-file --master-key-file --feature' ;;
    namespaces:-v) echo '--backend --data-dir -o --output --request-id --policy --token-file --master-key-file --feature' ;;
    init) echo '-h --help --version --backend --data-dir -o --output --request-id --policy --token-file --master-key-file --feature' ;;
    init:-v) echo '--backend --data-dir -o --output --request-id --policy --token-file --master-key-file --feature' ;;
    users) echo '-h --help --version --backend --data-dir -o --output --request-id --policy --token-file --master-key-file --feature' ;;
    users:-v) echo '--backend --data-dir -o --output --request-id --policy --token-file --master-key-file --feature' ;;
    log) echo '-h --help --user -n --namespace --since --until --limit --cursor --version --backend --data-dir -o --output --request-id --policy --token-file --master-key-file --feature' ;;
    log:-v) echo '--user -n --namespace --since --until --limit --cursor --backend --data-dir -o --output --request-id --policy --token-file --master-key-file --feature' ;;
    verify) echo '-h --help --version --backend --data-dir -o --output --request-id --policy --token-file --master-key-file --feature' ;;
    verify:-v) echo '--backend --data-dir -o --output --request-id --policy --token-file --master-key-file --feature' ;;
    export) echo '-h --help --version --backend --data-dir -o --output --request-id --policy --token-file --master-key-file --feature' ;;
    export:-v) echo '--backend --data-dir -o --output --request-id --policy --token-file --master-key-file --feature' ;;
    import) echo '-h --help --version --backend --data-dir -o --output --request-id --policy --token-file --master-key-file --feature' ;;
    import:-v) echo '--backend --data-dir -o --output --request-id --policy --token-file --master-key-file --feature' ;;
    apply) echo '-h --help --version --backend --data-dir -o --output --request-id --policy --token-file --master-key-file --feature' ;;
    apply:-v) echo '--backend --data-dir -o --output --request-id --policy --token-file --master-key-file --feature' ;;
    rekey) echo '-h --help --rotate-data-keys --version --backend --data-dir -o --output --request-id --policy --token-file --master-key-file --feature' ;;
    rekey:-v) echo '--backend --data-dir -o --output --request-id --policy --token-file --master-key-file --feature' ;;
    prune) echo '-h --help --retention --dry-run --version --backend --data-dir -o --output --request-id --policy --token-file --master-key-file --feature' ;;
    prune:-v) echo '--retention --backend --data-dir -o --output --request-id --policy --token-file --master-key-file --feature' ;;
    features) echo '-h --help --version --backend --data-dir -o --output --request-id --policy --token-file --master-key-file --feature' ;;
    features:-v) echo '--backend --data-dir -o --output --request-id --policy --token-file --master-key-file --feature' ;;
    serve) echo '-h --help --listen --api-prefix --threads --max-connections --log-format --insecure --tls-cert --tls-key --retention --prune-interval --hooks --version --backend --data-dir -o --output --request-id --policy --token-file --master-key-file --feature' ;;
    serve:-v) echo '--listen --api-prefix --threads --max-connections --log-format --tls-cert --tls-key --retention --prune-interval --hooks --backend --data-dir -o --output --request-id --policy --token-file --master-key-file --feature' ;;
    watch) echo '-h --help -n --namespace --url --api-prefix --after --count --ca-file --version --backend --data-dir -o --output --request-id --policy --token-file --master-key-file --feature' ;;
    watch:-v) echo '-n --namespace --url --api-prefix --after --count --ca-file --backend --data-dir -o --output --request-id --policy --token-file --master-key-file --feature' ;;
    hooks) echo '-h --help --hooks --version --backend --data-dir -o --output --request-id --policy --token-file --master-key-file --feature' ;;
    hooks:-v) echo '--hooks --backend --data-dir -o --output --request-id --policy --token-file --master-key-file --feature' ;;
    policy) echo '-h --help --role --attribute --version --backend --data-dir -o --output --request-id --policy --token-file --master-key-file --feature' ;;
    policy:-v) echo '--role --attribute --backend --data-dir -o --output --request-id --policy --token-file --master-key-file --feature' ;;
    esac
}

# Completes the value of option $2 after command $1.
_zsimem_complete_value() {
    case $1 in
    get)
        case $2 in
        -n|--namespace) : ;;
        --version) : ;;
        --at) : ;;
        -p|--path) : ;;
        *) false ;;
        esac && return ;;
    merge)
        case $2 in
        -n|--namespace) : ;;
        -t|--tag) : ;;
        --if-version) : ;;
        --idempotency-key) : ;;
        *) false ;;
        esac && return ;;
    history)
        case $2 in
        -n|--namespace) : ;;
        --limit) : ;;
        --since) : ;;
        --until) : ;;
        --cursor) : ;;
        *) false ;;
        esac && return ;;
    rollback)
        case $2 in
        -n|--namespace) : ;;
        --if-version) : ;;
        -t|--tag) : ;;
        *) false ;;
        esac && return ;;
    diff)
        case $2 in
        -n|--namespace) : ;;
        *) false ;;
        esac && return ;;
    blame)
        case $2 in
        -n|--namespace) : ;;
        *) false ;;
        esac && return ;;
    summary)
        case $2 in
        -n|--namespace) : ;;
        -f|--field) : ;;
        -b|--bucket) : ;;
        -g|--goal) : ;;
        -w|--window) : ;;
        --since) : ;;
        --until) : ;;
        --as-of) : ;;
        *) false ;;
        esac && return ;;
    delete)
        case $2 in
        -n|--namespace) : ;;
        *) false ;;
        esac && return ;;
    log)
        case $2 in
        --user) _zsimem_complete_users ;;
        -n|--namespace) : ;;
        --since) : ;;
        --until) : ;;
        --limit) : ;;
        --cursor) : ;;
        *) false ;;
        esac && return ;;
    prune)
        case $2 in
        --retention) : ;;
        *) false ;;
        esac && return ;;
    serve)
        case $2 in
        --listen) : ;;
        --api-prefix) : ;;
        --threads) : ;;
        --max-connections) : ;;
        --log-format) _zsimem_complete_words 'text json' ;;
        --tls-cert) : ;;
        --tls-key) : ;;
        --retention) : ;;
        --prune-interval) : ;;
        --hooks) : ;;
        *) false ;;
        esac && return ;;
    watch)
        case $2 in
        -n|--namespace) : ;;
        --url) : ;;
        --api-prefix) : ;;
        --after) : ;;
        --count) : ;;
        --ca-file) : ;;
        *) false ;;
        esac && return ;;
    hooks)
        case $2 in
        --hooks) : ;;
        *) false ;;
        esac && return ;;
    policy)
        case $2 in
        --role) : ;;
        --attribute) : ;;
        *) false ;;
        esac && return ;;
    esac
    case $2 in
    --backend) _zsimem_complete_words 'json sqlite postgres dynamo firestore' ;;
    --data-dir) _zsimem_complete_files -d ;;
    -o|--output) _zsimem_complete_words 'auto text json' ;;
    --request-id) : ;;
    --policy) : ;;
    --token-file) : ;;
    --master-key-file) : ;;
    --feature) : ;;
    esac
}

# Completes positional argument $2 (from 0) of command $1.
_zsimem_complete_positional() {
    case $1:$2 in
    get:0) _zsimem_complete_users ;;
    merge:0) _zsimem_complete_users ;;
    merge:1) _zsimem_complete_input ;;
    history:0) _zsimem_complete_users ;;
    rollback:0) _zsimem_complete_users ;;
    rollback:1) : ;;
    diff:0) _zsimem_complete_users ;;
    diff:1) : ;;
    diff:2) : ;;
    blame:0) _zsimem_complete_users ;;
    blame:1) : ;;
    summary:0) _zsimem_complete_users ;;
    delete:0) _zsimem_complete_users ;;
    namespaces:0) _zsimem_complete_users ;;
    verify:0) _zsimem_complete_users ;;
    export:0) _zsimem_complete_users ;;
    import:0) _zsimem_complete_files ;;
    apply:0) _zsimem_complete_files ;;
    prune:0) _zsimem_complete_users ;;
    watch:0) _zsimem_complete_users ;;
    hooks:0) _zsimem_complete_words 'status deliver reset' ;;
    hooks:1) : ;;
    policy:0) _zsimem_complete_words 'check' ;;
    policy:1) : ;;
    policy:2) : ;;
    policy:3) _zsimem_complete_users ;;
    policy:4) : ;;
    esac
}

_zsimem_complete_words() {
    local word
    local -a words
    read -r -a words <<<"$1"
    for word in "${words[@]}"; do
        [[ $word == "$cur"* ]] && COMPREPLY+=("$word")
    done
}

# User ids come from the binary, from the store the command line names.
_zsimem_complete_users() {
    local user
    while IFS= read -r user; do
        [[ $user == "$cur"* ]] && COMPREPLY+=("$user")
    done < <(zsimem "${store_args[@]}" users -o text 2>/dev/null)
}

# Completes file names (-d: directories) after an optional prefix such as @.
_zsimem_complete_files() {
    local type=-f prefix entry
    if [[ $1 == -d ]]; then
        type=-d
        shift
    fi
    prefix=${1-}
    local -a entries
    mapfile -t entries < <(compgen "$type" -- "${cur#"$prefix"}")
    if [[ -z $prefix ]]; then
        compopt -o filenames 2>/dev/null
        COMPREPLY+=("${entries[@]}")
        return
    fi
    for entry in "${entries[@]}"; do
        if [[ -d $entry ]]; then
            COMPREPLY+=("$prefix$entry/")
            compopt -o nospace 2>/dev/null
        else
            COMPREPLY+=("$prefix$entry")
        fi
    done
}

# JSON text, @FILE or - for standard input: only @FILE can be completed.
_zsimem_complete_input() {
    [[ $cur == @* ]] && _zsimem_complete_files @
}

_zsimem() {
    local cur=${COMP_WORDS[COMP_CWORD]} command='' option='' word
    local -a store_args=()
    local -i i=1 positional=0
    COMPREPLY=()
    # bash splits --option=value into three words: --option, = and value.
    if [[ $cur == = ]]; then
        cur=''
    fi
    while (( i < COMP_CWORD )); do
        word=${COMP_WORDS[i]}
        if [[ $word != -* || $word == - ]]; then
            if [[ -z $command ]]; then
                command=$word
            else
                positional+=1
            fi
            i+=1
            continue
        fi
        if [[ ${COMP_WORDS[i+1]-} == = ]]; then
            (( i + 1 == COMP_CWORD || i + 2 == COMP_CWORD )) && option=$word
            _zsimem_store_arg "$word" "${COMP_WORDS[i+2]-}"
            i+=3
        elif [[ " $(_zsimem_options "$command" -v) " == *" $word "* ]]; then
            (( i + 1 == COMP_CWORD )) && option=$word
            _zsimem_store_arg "$word" "${COMP_WORDS[i+1]-}"
            i+=2
        else
            [[ $word == *=* ]] && _zsimem_store_arg "${word%%=*}" "${word#*=}"
            i+=1
        fi
    done
    if [[ -n $option ]]; then
        _zsimem_complete_value "$command" "$option"
    elif [[ $cur == -?* ]]; then
        _zsimem_complete_words "$(_zsimem_options "$command")"
    elif [[ -z $command ]]; then
        _zsimem_complete_words 'get merge history rollback diff blame summary delete namespaces init users log verify export import apply rekey prune features serve watch hooks policy'
    else
        _zsimem_complete_positional "$command" "$positional"
    fi
    return 0
}

# Keeps the options that pick the store, for _zsimem_complete_users.
_zsimem_store_arg() {
    case $1 in
    --backend|--data-dir|--request-id|--policy) store_args+=("$1" "${2/#\~/$HOME}") ;;
    esac
}

complete -F _zsimem zsimem
