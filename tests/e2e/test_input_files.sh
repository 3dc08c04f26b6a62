#!/usr/bin/env bash
# Files infra reads a topology or variables from must be regular files of at
# most 16 MiB: a device, a FIFO or a huge file is refused at once with the
# file's name (timeout guards against a regression that blocks or reads on).
source "$(dirname "$0")/lib.sh"
topology 1
mkfifo "$work/fifo.yaml"

run 1 timeout 60 "$infra" validate /dev/zero
[ "$(head -n 1 "$work/err")" = "/dev/zero: error: cannot read the topology: not a regular file (a character device)" ] ||
  fail "validate /dev/zero said: $(cat "$work/err")"
run 1 timeout 60 "$infra" validate "$work/fifo.yaml"
err_has "$work/fifo.yaml: error: cannot read the topology: not a regular file (a FIFO)"
run 1 timeout 60 "$infra" validate "$topo" --var-file /dev/zero
err_has "/dev/zero: error: cannot read the --var-file: not a regular file (a character device)"
run 1 timeout 60 "$infra" plan "$topo" --var-file "$work/fifo.yaml"
err_has "$work/fifo.yaml: error: cannot read the --var-file: not a regular file (a FIFO)"
cp "$topo" "$work/big.yaml"
truncate -s 17M "$work/big.yaml"
run 1 timeout 60 "$infra" validate "$work/big.yaml"
err_has "$work/big.yaml: error: cannot read the topology: larger than 16 MiB"
echo "devices, FIFOs and huge files refused"
