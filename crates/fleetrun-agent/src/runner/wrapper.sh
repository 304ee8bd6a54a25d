# fleetrun step wrapper. This text is static: it is compiled into the agent with
# include_str! and is never generated or formatted from user input. It runs as
#
#   /bin/sh -c "<this text>" fleetrun-step <dir>/_script.sh <dir>/exit_code
#
# and reads its inputs only from those positional parameters.
#
# "$1" is run as a program, so a #! line is honoured. A script without one makes
# execve fail with ENOEXEC, and POSIX sh then runs the file as a shell script.
# The script's exit status (128+signo if a signal killed it) is written to "$2"
# with the shell's builtin printf: one short write and no extra process (an `mv`
# for an atomic rename cost a fork and exec per step). The agent reads the file
# only once this wrapper is gone, so it never sees a write in progress; a wrapper
# killed before it wrote leaves an empty file, which reads as "no exit status".
# The wrapper exits with the script's status.
"$1"
fleetrun_status=$?
printf '%s\n' "$fleetrun_status" >"$2"
exit "$fleetrun_status"
