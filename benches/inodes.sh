# Sourced by the benchmarks whose runs create tens of thousands of files (runner.sh,
# broker.sh): how they delete a previous run's files without making the next run pay for it.
#
# ext4 without a journal (this machine's root file system: no /proc/fs/jbd2 entry) does not
# reuse an inode deleted in the last 60 s, or 360 s (60 + 300) while its inode table block
# is dirty (`recently_deleted` in fs/ext4/ialloc.c),
# which a run creating files next to it keeps it. Every new inode is found by scanning
# past all such inodes of its block group (`recently_deleted` in a profile), so a run
# started just after deleting 100,000 attempt directories paid several times the normal
# cost for each file it created: a cost of the benchmark, not of what it measures. With a
# journal the kernel skips this check; deleting and waiting is what makes both alike.
#
#   inodes_delete DIR...   deletes the directories and notes when
#   inodes_settle          waits until the last deletion is 370 s old (says so first)

INODES_STAMP=${CARGO_TARGET_DIR:-target}/inodes-deleted-at

inodes_delete() {
    local any=0 dir
    for dir in "$@"; do
        if [ -e "$dir" ]; then
            rm -rf "$dir"
            any=1
        fi
    done
    if [ "$any" = 1 ]; then
        sync
        mkdir -p "$(dirname "$INODES_STAMP")"
        date +%s > "$INODES_STAMP"
    fi
}

inodes_settle() {
    [ -f "$INODES_STAMP" ] || return 0
    local left=$(( $(cat "$INODES_STAMP") + 370 - $(date +%s) ))
    if [ "$left" -gt 0 ]; then
        echo "waiting ${left} s: files deleted less than 6 minutes ago make new ones dearer on ext4 without a journal (benches/inodes.sh)" >&2
        sleep "$left"
    fi
}
