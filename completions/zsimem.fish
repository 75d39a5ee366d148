# fish completion for zsimem(1).
# Generated from the command table by `zsimem __generate-docs fish`;
# do not edit: run scripts/generate-docs after changing the CLI.

# Succeeds when option $argv[2] takes a value after command $argv[1] ('' before any).
function __zsimem_takes_value
    switch "$argv[1]"
        case get
            contains -- $argv[2] -n --namespace --version --at -p --path --backend --data-dir -o --output --request-id --policy --token-file --master-key-file --feature
        case merge
            contains -- $argv[2] -n --namespace -t --tag --if-version --idempotency-key --backend --data-dir -o --output --request-id --policy --token-file --master-key-file --feature
        case history
            contains -- $argv[2] -n --namespace --limit --since --until --cursor --backend --data-dir -o --output --request-id --policy --token-file --master-key-file --feature
        case rollback
            contains -- $argv[2] -n --namespace --if-version -t --tag --backend --data-dir -o --output --request-id --policy --token-file --master-key-file --feature
        case diff
            contains -- $argv[2] -n --namespace --backend --data-dir -o --output --request-id --policy --token-file --master-key-file --feature
        case blame
            contains -- $argv[2] -n --namespace --backend --data-dir -o --output --request-id --policy --token-file --master-key-file --feature
        case summary
            contains -- $argv[2] -n --namespace -f --field -b --bucket -g --goal -w --window --since --until --as-of --backend --data-dir -o --output --request-id --policy --token-file --master-key-file --feature
        case delete
            contains -- $argv[2] -n --namespace --backend --data-dir -o --output --request-id --policy --token-file --master-key-file --feature
        case namespaces
            contains -- $argv[2] --backend --data-dir -o --output --request-id --policy --token-file --master-key-file --feature
        case init
            contains -- $argv[2] --backend --data-dir -o --output --request-id --policy --token-file --master-key-file --feature
        case users
            contains -- $argv[2] --backend --data-dir -o --output --request-id --policy --token-file --master-key-file --feature
        case log
            contains -- $argv[2] --user -n --namespace --since --until --limit --cursor --backend --data-dir -o --output --request-id --policy --token-file --master-key-file --feature
        case verify
            contains -- $argv[2] --backend --data-dir -o --output --request-id --policy --token-file --master-key-file --feature
        case export
            contains -- $argv[2] --backend --data-dir -o --output --request-id --policy --token-file --master-key-file --feature
        case import
            contains -- $argv[2] --backend --data-dir -o --output --request-id --policy --token-file --master-key-file --feature
        case apply
            contains -- $argv[2] --backend --data-dir -o --output --request-id --policy --token-file --master-key-file --feature
        case rekey
            contains -- $argv[2] --backend --data-dir -o --output --request-id --policy --token-file --master-key-file --feature
        case prune
            contains -- $argv[2] --retention --backend --data-dir -o --output --request-id --policy --token-file --master-key-file --feature
        case features
            contains -- $argv[2] --backend --data-dir -o --output --request-id --policy --token-file --master-key-file --feature
        case serve
            contains -- $argv[2] --listen --api-prefix --threads --max-connections --log-format --tls-cert --tls-key --retention --prune-interval --hooks --backend --data-dir -o --output --request-id --policy --token-file --master-key-file --feature
        case watch
            contains -- $argv[2] -n --namespace --url --api-prefix --after --count --ca-file --backend --data-dir -o --output --request-id --policy --token-file --master-key-file --feature
        case hooks
            contains -- $argv[2] --hooks --backend --data-dir -o --output --request-id --policy --token-file --master-key-file --feature
        case policy
            contains -- $argv[2] --role --attribute --backend --data-dir -o --output --request-id --policy --token-file --master-key-file --feature
        case '*'
            contains -- $argv[2] --backend --data-dir -o --output --request-id --policy --token-file --master-key-file --feature
    end
end

# Prints the command and the positional arguments typed so far, not the
# options and their values.
function __zsimem_args
    set -l tokens (commandline -opc)
    set -e tokens[1]
    set -l args
    set -l skip 0
    for token in $tokens
        if test $skip -eq 1
            set skip 0
        else if string match -q -- '-?*' $token
            if not string match -q -- '*=*' $token; and __zsimem_takes_value "$args[1]" $token
                set skip 1
            end
        else
            set -a args $token
        end
    end
    set -q args[1]; and printf '%s\n' $args
end

function __zsimem_needs_command
    test (count (__zsimem_args)) -eq 0
end

# Succeeds when the command typed is one of $argv.
function __zsimem_using_command
    set -l args (__zsimem_args)
    set -q args[1]; and contains -- $args[1] $argv
end

# Succeeds when completing positional argument $argv[2] (from 1) of command
# $argv[1], or any after it with a third argument.
function __zsimem_positional
    set -l args (__zsimem_args)
    set -q args[1]; and test $args[1] = $argv[1]; or return
    if set -q argv[3]
        test (count $args) -ge $argv[2]
    else
        test (count $args) -eq $argv[2]
    end
end

# User ids come from the binary, from the store the command line names.
function __zsimem_users
    set -l tokens (commandline -opc)
    set -l store_args
    set -l i 2
    while test $i -le (count $tokens)
        switch $tokens[$i]
            case --backend --data-dir --request-id --policy
                set -a store_args $tokens[$i]
                set i (math $i + 1)
                set -q tokens[$i]; and set -a store_args (string replace -r '^~' $HOME -- $tokens[$i])
            case '--backend=*' '--data-dir=*' '--request-id=*' '--policy=*'
                set -a store_args $tokens[$i]
        end
        set i (math $i + 1)
    end
    zsimem $store_args users -o text 2>/dev/null
end

# JSON text, @FILE or - for standard input: only @FILE can be completed.
function __zsimem_at_files
    set -l token (commandline -ct)
    string match -q -- '@*' $token; or return
    set -l prefix (string sub -s 2 -- $token)
    for path in $prefix*
        if test -d $path
            echo @$path/
        else
            echo @$path
        end
    end
end

complete -c zsimem -f

# Commands, until one is typed.
complete -c zsimem -n __zsimem_needs_command -a get -d 'Print a context: its head, one version, or as of a time'
complete -c zsimem -n __zsimem_needs_command -a merge -d 'Merge a delta (a JSON merge patch) into a context'
complete -c zsimem -n __zsimem_needs_command -a history -d 'List the versions of a context, newest first'
complete -c zsimem -n __zsimem_needs_command -a rollback -d 'Restore an old version\'s data as a new version'
complete -c zsimem -n __zsimem_needs_command -a diff -d 'Show what changed between two versions'
complete -c zsimem -n __zsimem_needs_command -a blame -d 'Show which version, time and actor last set each field'
complete -c zsimem -n __zsimem_needs_command -a summary -d 'Summarize numeric fields over time: statistics, trend, goal'
complete -c zsimem -n __zsimem_needs_command -a delete -d 'Erase every version of a user, or of one namespace of it'
complete -c zsimem -n __zsimem_needs_command -a namespaces -d 'List the namespaces of a user'
complete -c zsimem -n __zsimem_needs_command -a init -d 'Create the store if it does not exist (a DynamoDB table); the others are created on first use'
complete -c zsimem -n __zsimem_needs_command -a users -d 'List the user ids that have a context'
complete -c zsimem -n __zsimem_needs_command -a log -d 'Show the audit log, newest first'
complete -c zsimem -n __zsimem_needs_command -a verify -d 'Check the hash chains of every context and of the audit log (or one user\'s contexts)'
complete -c zsimem -n __zsimem_needs_command -a export -d 'Write every version, with its metadata, as JSON Lines'
complete -c zsimem -n __zsimem_needs_command -a import -d 'Read versions written by export (lossless, any backend)'
complete -c zsimem -n __zsimem_needs_command -a apply -d 'Merge many MemoryUpdates from JSON Lines, in one transaction where the backend allows'
complete -c zsimem -n __zsimem_needs_command -a rekey -d 'Rewrap every data key onto the current (first) master key; safe while daemons serve'
complete -c zsimem -n __zsimem_needs_command -a prune -d 'Apply the retention policies: remove the versions no rule keeps, and old audit records'
complete -c zsimem -n __zsimem_needs_command -a features -d 'Show which features are on (ZSIMEM_FEATURES, --feature)'
complete -c zsimem -n __zsimem_needs_command -a serve -d 'Serve the HTTP API on the configured store'
complete -c zsimem -n __zsimem_needs_command -a watch -d 'Follow a context\'s new versions from a daemon\'s event stream'
complete -c zsimem -n __zsimem_needs_command -a hooks -d 'Deliver versions to the hooks, or show their lag and failures: hooks status|deliver|reset [HOOK]'
complete -c zsimem -n __zsimem_needs_command -a policy -d 'Explain the access policy\'s decisions: policy check SUBJECT OPERATION USER [NS]'

# Global options, anywhere unless a command has its own of the same name.
complete -c zsimem -n '__zsimem_needs_command' -s h -l help -d 'Print this help message and exit'
complete -c zsimem -n 'not __zsimem_using_command get' -l version -d 'Display program version information and exit'
complete -c zsimem -l backend -x -a 'json sqlite postgres dynamo firestore' -d 'Storage backend: json, sqlite, postgres, dynamo, firestore (default json)'
complete -c zsimem -l data-dir -x -a '(__fish_complete_directories (commandline -ct))' -d 'Directory of the embedded stores (default $XDG_DATA_HOME/zsimem)'
complete -c zsimem -s o -l output -x -a 'auto text json' -d 'Output format: auto (text on a terminal), text or json'
complete -c zsimem -l request-id -x -d 'Request id recorded in the audit log (default: a new UUID)'
complete -c zsimem -l policy -x -d 'Access policy file: every operation must be allowed by it (docs/security.md)'
complete -c zsimem -l token-file -x -d 'Act as the subject of the bearer token in FILE (or in ZSIMEM_TOKEN), checked against the policy; watch sends it to the daemon'
complete -c zsimem -l master-key-file -x -d 'Encrypt at rest with the master keys in FILE, the current one first (or ZSIMEM_MASTER_KEY, ZSIMEM_MASTER_KEY_FILE)'
complete -c zsimem -l feature -x -d 'Switch a feature on or off: NAME=on|off, repeatable, over ZSIMEM_FEATURES (zsimem features)'

# get
complete -c zsimem -n '__zsimem_using_command get' -s h -l help -d 'Print this help message and exit'
complete -c zsimem -n '__zsimem_using_command get' -s n -l namespace -x -d 'Namespace of the context'
complete -c zsimem -n '__zsimem_using_command get' -l version -x -d 'Print this version'
complete -c zsimem -n '__zsimem_using_command get' -l at -x -d 'Print the version current at TIME (RFC 3339 or YYYY-MM-DD)'
complete -c zsimem -n '__zsimem_using_command get' -s p -l path -x -d 'Print only the value at this JSON pointer (e.g. /prefs/lang)'
complete -c zsimem -n '__zsimem_positional get 1' -f -a '(__zsimem_users)' -d 'User id'

# merge
complete -c zsimem -n '__zsimem_using_command merge' -s h -l help -d 'Print this help message and exit'
complete -c zsimem -n '__zsimem_using_command merge' -s n -l namespace -x -d 'Namespace of the context'
complete -c zsimem -n '__zsimem_using_command merge' -s t -l tag -x -d 'Tag the new version (repeatable)'
complete -c zsimem -n '__zsimem_using_command merge' -l if-version -x -d 'Expect this head version (0: the context must be new); rebased when the paths it touches did not change since'
complete -c zsimem -n '__zsimem_using_command merge' -l strict -d 'With --if-version: fail on any moved head, never rebase'
complete -c zsimem -n '__zsimem_using_command merge' -l idempotency-key -x -d 'Replaying the same key returns the version it first made'
complete -c zsimem -n '__zsimem_using_command merge' -l dry-run -d 'Print the change and the version it would make; write nothing'
complete -c zsimem -n '__zsimem_positional merge 1' -f -a '(__zsimem_users)' -d 'User id'
complete -c zsimem -n '__zsimem_positional merge 2' -f -a '(__zsimem_at_files)' -d 'The delta: JSON text, @FILE, or - for standard input'

# history
complete -c zsimem -n '__zsimem_using_command history' -s h -l help -d 'Print this help message and exit'
complete -c zsimem -n '__zsimem_using_command history' -s n -l namespace -x -d 'Namespace of the context'
complete -c zsimem -n '__zsimem_using_command history' -l limit -x -d 'At most this many versions (1-1000)'
complete -c zsimem -n '__zsimem_using_command history' -l since -x -d 'Only versions at or after TIME'
complete -c zsimem -n '__zsimem_using_command history' -l until -x -d 'Only versions at or before TIME'
complete -c zsimem -n '__zsimem_using_command history' -l cursor -x -d 'Continue below this version (the next_cursor printed before)'
complete -c zsimem -n '__zsimem_positional history 1' -f -a '(__zsimem_users)' -d 'User id'

# rollback
complete -c zsimem -n '__zsimem_using_command rollback' -s h -l help -d 'Print this help message and exit'
complete -c zsimem -n '__zsimem_using_command rollback' -s n -l namespace -x -d 'Namespace of the context'
complete -c zsimem -n '__zsimem_using_command rollback' -l if-version -x -d 'Fail unless the head is this version'
complete -c zsimem -n '__zsimem_using_command rollback' -s t -l tag -x -d 'Tag the new version (repeatable)'
complete -c zsimem -n '__zsimem_positional rollback 1' -f -a '(__zsimem_users)' -d 'User id'

# diff
complete -c zsimem -n '__zsimem_using_command diff' -s h -l help -d 'Print this help message and exit'
complete -c zsimem -n '__zsimem_using_command diff' -s n -l namespace -x -d 'Namespace of the context'
complete -c zsimem -n '__zsimem_positional diff 1' -f -a '(__zsimem_users)' -d 'User id'

# blame
complete -c zsimem -n '__zsimem_using_command blame' -s h -l help -d 'Print this help message and exit'
complete -c zsimem -n '__zsimem_using_command blame' -s n -l namespace -x -d 'Namespace of the context'
complete -c zsimem -n '__zsimem_positional blame 1' -f -a '(__zsimem_users)' -d 'User id'

# summary
complete -c zsimem -n '__zsimem_using_command summary' -s h -l help -d 'Print this help message and exit'
complete -c zsimem -n '__zsimem_using_command summary' -s n -l namespace -x -d 'Namespace of the context'
complete -c zsimem -n '__zsimem_using_command summary' -s f -l field -x -d 'A numeric field, as a JSON pointer (repeatable)'
complete -c zsimem -n '__zsimem_using_command summary' -s b -l bucket -x -d 'Group by day, week, month or none'
complete -c zsimem -n '__zsimem_using_command summary' -s g -l goal -x -d 'A target for a field, as POINTER:NUMBER (repeatable)'
complete -c zsimem -n '__zsimem_using_command summary' -s w -l window -x -d 'Only the DURATION (12h, 7d, 8w) before --until, --as-of or now'
complete -c zsimem -n '__zsimem_using_command summary' -l since -x -d 'Only versions from TIME on'
complete -c zsimem -n '__zsimem_using_command summary' -l until -x -d 'Only versions up to TIME'
complete -c zsimem -n '__zsimem_using_command summary' -l as-of -x -d 'Summarize as it was at TIME: the same answer forever'
complete -c zsimem -n '__zsimem_positional summary 1' -f -a '(__zsimem_users)' -d 'User id'

# delete
complete -c zsimem -n '__zsimem_using_command delete' -s h -l help -d 'Print this help message and exit'
complete -c zsimem -n '__zsimem_using_command delete' -s n -l namespace -x -d 'Erase only this namespace (default: all of the user\'s)'
complete -c zsimem -n '__zsimem_using_command delete' -s y -l yes -d 'Do not ask for confirmation on a terminal'
complete -c zsimem -n '__zsimem_positional delete 1' -f -a '(__zsimem_users)' -d 'User id'

# namespaces
complete -c zsimem -n '__zsimem_using_command namespaces' -s h -l help -d 'Print this help message and exit'
complete -c zsimem -n '__zsimem_positional namespaces 1' -f -a '(__zsimem_users)' -d 'User id'

# init
complete -c zsimem -n '__zsimem_using_command init' -s h -l help -d 'Print this help message and exit'

# users
complete -c zsimem -n '__zsimem_using_command users' -s h -l help -d 'Print this help message and exit'

# log
complete -c zsimem -n '__zsimem_using_command log' -s h -l help -d 'Print this help message and exit'
complete -c zsimem -n '__zsimem_using_command log' -l user -x -a '(__zsimem_users)' -d 'Only records about this user'
complete -c zsimem -n '__zsimem_using_command log' -s n -l namespace -x -d 'Only records about this namespace'
complete -c zsimem -n '__zsimem_using_command log' -l since -x -d 'Only records at or after TIME'
complete -c zsimem -n '__zsimem_using_command log' -l until -x -d 'Only records at or before TIME'
complete -c zsimem -n '__zsimem_using_command log' -l limit -x -d 'At most this many records (1-1000)'
complete -c zsimem -n '__zsimem_using_command log' -l cursor -x -d 'Continue below this record (the next_cursor printed before)'

# verify
complete -c zsimem -n '__zsimem_using_command verify' -s h -l help -d 'Print this help message and exit'
complete -c zsimem -n '__zsimem_positional verify 1' -f -a '(__zsimem_users)' -d 'Only this user\'s contexts'

# export
complete -c zsimem -n '__zsimem_using_command export' -s h -l help -d 'Print this help message and exit'
complete -c zsimem -n '__zsimem_positional export 1' -f -a '(__zsimem_users)' -d 'Only this user\'s contexts'

# import
complete -c zsimem -n '__zsimem_using_command import' -s h -l help -d 'Print this help message and exit'
complete -c zsimem -n '__zsimem_positional import 1' -F -d 'JSON Lines file, or - for standard input'

# apply
complete -c zsimem -n '__zsimem_using_command apply' -s h -l help -d 'Print this help message and exit'
complete -c zsimem -n '__zsimem_positional apply 1' -F -d 'JSON Lines of MemoryUpdate objects, or - for standard input'

# rekey
complete -c zsimem -n '__zsimem_using_command rekey' -s h -l help -d 'Print this help message and exit'
complete -c zsimem -n '__zsimem_using_command rekey' -l rotate-data-keys -d 'Also give every user a new data key: new versions are sealed with it, old ones keep theirs'

# prune
complete -c zsimem -n '__zsimem_using_command prune' -s h -l help -d 'Print this help message and exit'
complete -c zsimem -n '__zsimem_using_command prune' -l retention -x -d 'The retention file (docs/retention.md)'
complete -c zsimem -n '__zsimem_using_command prune' -l dry-run -d 'Print what would go and what would stay; change nothing'
complete -c zsimem -n '__zsimem_positional prune 1' -f -a '(__zsimem_users)' -d 'Only this user\'s contexts (audit records are then left alone)'

# features
complete -c zsimem -n '__zsimem_using_command features' -s h -l help -d 'Print this help message and exit'

# serve
complete -c zsimem -n '__zsimem_using_command serve' -s h -l help -d 'Print this help message and exit'
complete -c zsimem -n '__zsimem_using_command serve' -l listen -x -d 'Address to listen on, HOST:PORT (port 0: any free port)'
complete -c zsimem -n '__zsimem_using_command serve' -l api-prefix -x -d 'Base path of the memory endpoints'
complete -c zsimem -n '__zsimem_using_command serve' -l threads -x -d 'Worker threads kept ready; more start on demand, up to --max-connections'
complete -c zsimem -n '__zsimem_using_command serve' -l max-connections -x -d 'Connections served at once (each holds a thread); one more is answered 503'
complete -c zsimem -n '__zsimem_using_command serve' -l log-format -x -a 'text json' -d 'Access log format on standard error'
complete -c zsimem -n '__zsimem_using_command serve' -l insecure -d 'Listen on an address beyond loopback without a policy (--policy): anyone who can reach it may read and write every context'
complete -c zsimem -n '__zsimem_using_command serve' -l tls-cert -x -d 'Serve HTTPS with this certificate (PEM: the server\'s, then any intermediates); needs --tls-key'
complete -c zsimem -n '__zsimem_using_command serve' -l tls-key -x -d 'Private key of --tls-cert (PEM, unencrypted; keep it readable by the daemon only)'
complete -c zsimem -n '__zsimem_using_command serve' -l retention -x -d 'Apply this retention file\'s policies at start and every --prune-interval (docs/retention.md)'
complete -c zsimem -n '__zsimem_using_command serve' -l prune-interval -x -d 'How often to apply --retention (30s, 15m, 1h, 1d)'
complete -c zsimem -n '__zsimem_using_command serve' -l hooks -x -d 'Deliver every committed version to this hooks file\'s hooks, from a worker of its own (docs/hooks.md)'

# watch
complete -c zsimem -n '__zsimem_using_command watch' -s h -l help -d 'Print this help message and exit'
complete -c zsimem -n '__zsimem_using_command watch' -s n -l namespace -x -d 'Namespace of the context'
complete -c zsimem -n '__zsimem_using_command watch' -l url -x -d 'Base URL of the daemon'
complete -c zsimem -n '__zsimem_using_command watch' -l api-prefix -x -d 'Base path of the memory endpoints'
complete -c zsimem -n '__zsimem_using_command watch' -l after -x -d 'Start after this version (0: from the first); default: the head'
complete -c zsimem -n '__zsimem_using_command watch' -l count -x -d 'Exit after this many versions (0: follow until interrupted)'
complete -c zsimem -n '__zsimem_using_command watch' -l ca-file -x -d 'For an https URL: trust the CA certificates (PEM) in FILE instead of the system\'s'
complete -c zsimem -n '__zsimem_positional watch 1' -f -a '(__zsimem_users)' -d 'User id'

# hooks
complete -c zsimem -n '__zsimem_using_command hooks' -s h -l help -d 'Print this help message and exit'
complete -c zsimem -n '__zsimem_using_command hooks' -l hooks -x -d 'The hooks file (docs/hooks.md)'
complete -c zsimem -n '__zsimem_positional hooks 1' -f -a 'status deliver reset' -d 'status: each hook\'s pending versions, failures and dead letters; deliver: hand over what is pending now, then exit; reset HOOK: forget HOOK\'s progress, so that it gets every version again'

# policy
complete -c zsimem -n '__zsimem_using_command policy' -s h -l help -d 'Print this help message and exit'
complete -c zsimem -n '__zsimem_using_command policy' -l role -x -d 'A role the subject\'s token carries (repeatable)'
complete -c zsimem -n '__zsimem_using_command policy' -l attribute -x -d 'A claim of the subject\'s token, NAME=VALUE (repeatable)'
complete -c zsimem -n '__zsimem_positional policy 1' -f -a 'check' -d 'check: whether the policy lets the subject do the operation'
complete -c zsimem -n '__zsimem_positional policy 4' -f -a '(__zsimem_users)' -d 'The user id operated on; - for every user (the whole store)'
