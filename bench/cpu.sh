# cpu.sh -- sourced by run.sh and test_cpu.sh: a process's CPU time, precisely.
#
# cpu_ns PID... -- the CPU time of the processes in ns: each thread's time on a CPU
# (/proc/PID/task/*/schedstat), not /proc/PID/stat's clock ticks, whose 10 ms steps are
# some 6% of what a 1,000-client scenario spends in its window. Every server's threads live
# as long as it does. Summed as a double ("%.0f", exact to 2^53 ns): Debian's awk (mawk)
# prints "%d" as a 32-bit int, so past 2.1 s every process read as 2147483647 ns.
cpu_ns() {
  local p
  for p in "$@"; do cat /proc/"$p"/task/*/schedstat 2>/dev/null; done |
    awk '{t += $1} END {printf "%.0f\n", t}'
}
