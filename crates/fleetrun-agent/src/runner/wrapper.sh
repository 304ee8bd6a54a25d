# fleetrun step wrapper. This text is static: it is compiled into the agent with
# include_str! and is never generated or formatted from user input. It runs as
#
#   /bin/sh -c "<this text>" fleetrun-step <dir>/_script.sh <dir>/exit_code
#
# and reads its inputs only from those positional parameters.
#
# "$1" is run as a program, so a #! line is honoured. A script without one makes
# execve fail with ENOEXEC, and POSIX sh then runs the file as a shell script.
# The script's exit status (128+signo if a signal killed it) is written to
# "$2.tmp" and renamed to "$2", so a reader never sees a partial file. `command -p`
# finds mv on the default PATH, whatever PATH the step's environment sets.
# The wrapper exits with the script's status.
"$1"
fleetrun_status=$?
if printf '%s\n' "$fleetrun_status" >"$2.tmp"; then
    command -p mv -f "$2.tmp" "$2"
fi
exit "$fleetrun_status"
