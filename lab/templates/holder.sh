#!/bin/sh
# Holds one lab host's mount + UTS namespace: bind its own directories over the standard
# paths, set its hostname, then sleep so daemons can nsenter it.
# usage: holder.sh HOSTNAME HOSTDIR TARGET... (each TARGET is bound from HOSTDIR/TARGET)
set -eu
name=$1; dir=$2; shift 2
for target in "$@"; do
    mount --bind "$dir$target" "$target"
done
hostname "$name"
: > /run/.lab-holder-ready
exec sleep infinity
