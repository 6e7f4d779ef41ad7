# Sourced by scripts/fuzz.sh and scripts/fuzz_snapshots.sh: what both need to know about a
# fuzzer, where its binary is and how much CPU it has had (the clock both count a plateau
# in).

# Where `cargo fuzz build -O` puts the targets' binaries, relative to fuzz/.
fuzz_binaries=target/x86_64-unknown-linux-gnu/release

# CPU seconds (user + system) the process $1 has had so far; 0 once it is gone.
cpu_seconds() {
    local stat fields
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || { echo 0; return; }
    # Fields after the command name, which is in parentheses and may hold spaces:
    # utime and stime are the 12th and 13th.
    read -ra fields <<< "${stat##*) }"
    echo $(((fields[11] + fields[12]) / $(getconf CLK_TCK)))
}
