"""The remote follower of one log file and the reader of its framed output (pure, no I/O).

``tail -F`` cannot say where it is in which file, and it drops what the writer still appends
to a renamed file before reopening (nginx between logrotate's rename and USR1). So the remote
side is a small POSIX sh loop that polls ``stat`` and ships every new byte in a frame that
names the file (inode) and the offset. The client keeps (inode, offset) and resumes from
exactly there after a reconnect: it reads the rest of a rotated file from ``PATH.1`` (rename
rotation) or the copy (copytruncate), and reports a gap where bytes are gone.

Output, one header line per frame, every header starting with a per-run random tag::

    TAG START INODE OFFSET ROTATED_INODE LAST_BYTES_HEX
    TAG RESUME|FILE|TICK INODE OFFSET ROTATED_INODE
    TAG DATA INODE OFFSET ROTATED_INODE  <bytes>  \\nTAG END COUNT
    TAG GAP INODE OFFSET ROTATED_INODE REASON
    TAG ERROR MESSAGE
"""

from __future__ import annotations

from dataclasses import dataclass, field

SCRIPT = r"""
exec 2>/dev/null 3>&1
f=$1 tag=$2 ino=$3 off=$4 rot=$5 poll=$6 max=$7 settle=$8 tick=$9 last=${10} fast=${11:-$6}
say() { printf '%s %s\n' "$tag" "$*" || exit 0; }
# Files are read through descriptors (4: PATH, 5: PATH.1) opened once per poll, so a rename
# between looking at a file and reading it cannot make us read another file.
st() { stat -L -c '%i %s' "$1" || echo '- 0'; }
# hexof FILE SKIP COUNT: COUNT bytes of FILE from SKIP, in hex (fewer where the file ends)
hexof() { od -An -v -tx1 -j "$2" -N "$3" "$1" | tr -d ' \n'; }
# tailhex FILE OFFSET: the (up to) 64 bytes before OFFSET, in hex: what we read last
tailhex() {
  [ "$2" -gt 0 ] || return 0
  s=$(($2 - 64)); [ "$s" -lt 0 ] && s=0
  hexof "$1" "$s" "$(($2 - s))"
}
# chunk FILE SIZE: send FILE's bytes from $off up to SIZE (at most $max of them); the bytes
# we read last (and a file's first bytes) are read again after sending: shorter than they
# must be, the file was cut meanwhile and last is '?' (unknown), to be verified at once.
chunk() {
  k=$(($2 - off)); [ "$k" -gt "$max" ] && k=$max
  from=$off
  say DATA "$ino" "$off" "$rot"
  n=$(tail -c +"$((off + 1))" "$1" | head -c "$k" | tee /dev/fd/3 | wc -c | tr -d ' ')
  printf '\n%s END %s\n' "$tag" "$n" || exit 0
  off=$((off + n)); last=$(tailhex "$1" "$off"); w=$off; [ "$w" -gt 64 ] && w=64
  if [ "${#last}" -ne $((w * 2)) ]; then last='?' verify=1
  elif [ "$from" = 0 ]; then
    head=$(hexof "$1" 0 64); [ "${#head}" -ge $((w * 2)) ] || head=
  fi
}
# copied: PATH.1 (on 5) is a copy of the file we read, taken before it was truncated: it
# holds what we read last at our offset, or it starts as our file did (head) and we read
# past its end (lines written between the copy and the truncation) or lost our last bytes
copied() {
  [ "$rino" != - ] || return 1
  if [ "$last" != '?' ] && [ "$rsize" -ge "$off" ] && \
     [ "$(tailhex /dev/fd/5 "$off")" = "$last" ]; then return 0; fi
  [ -n "$head" ] && { [ "$last" = '?' ] || [ "$rsize" -lt "$off" ]; } && \
    [ "$(hexof /dev/fd/5 0 $((${#head} / 2)))" = "$head" ]
}
open4() { if command exec 4< "$f"; then st /dev/fd/4; else exec 4<&-; echo '- 0'; fi; }
open5() { if command exec 5< "$f.1"; then st /dev/fd/5; else exec 5<&-; echo '- 0'; fi; }
if [ -e "$f" ] && ! [ -r "$f" ]; then say ERROR "cannot read $f: permission denied"; exit 3; fi
verify=1 hot=0
if [ -z "$ino" ]; then
  open4 >/dev/null; set -- $(st /dev/fd/4); ino=$1 off=$2
  [ "$ino" = - ] && off=0
  last=$(tailhex /dev/fd/4 "$off") head=
  [ "$off" -gt 0 ] && head=$(hexof /dev/fd/4 0 64)
  open5 >/dev/null; set -- $(st /dev/fd/5); rot=$1
  say START "$ino" "$off" "$rot" "$last"
else
  head=
  say RESUME "$ino" "$off" "$rot"
fi
i=0
while :; do
  open4 >/dev/null; set -- $(st /dev/fd/4); cino=$1 csize=$2
  open5 >/dev/null; set -- $(st /dev/fd/5); rino=$1 rsize=$2
  if [ "$ino" = - ]; then
    if [ "$cino" != - ]; then ino=$cino off=0 last= head=; say FILE "$ino" 0 "$rot"; continue; fi
  elif [ "$cino" = "$ino" ]; then
    # Truncated in place? Shorter than our offset, or (after a copy appeared at PATH.1, or
    # after a reconnect) no longer holding what we read last: copytruncate, regrown since.
    cut=0
    if [ "$csize" -lt "$off" ]; then cut=1
    elif [ "$off" = 0 ]; then
      # Nothing read yet (a file that just appeared): a new PATH.1 that this file no longer
      # starts with was copied from it before it was truncated, all of it still unread.
      if [ "$rino" != - ] && [ "$rino" != "$rot" ] && [ "$rsize" -gt 0 ]; then
        w=$rsize; [ "$w" -gt 64 ] && w=64
        [ "$(hexof /dev/fd/4 0 "$w")" = "$(hexof /dev/fd/5 0 "$w")" ] || cut=1
      fi
    elif [ "$verify" = 1 ] || { [ "$rino" != - ] && [ "$rino" != "$rot" ]; }; then
      { [ "$last" != '?' ] && [ "$(tailhex /dev/fd/4 "$off")" = "$last" ]; } || cut=1
    fi
    verify=0
    if [ "$cut" = 1 ]; then
      # copytruncate copies before it truncates: look at PATH.1 again, it is complete now
      open5 >/dev/null; set -- $(st /dev/fd/5); rino=$1 rsize=$2
      if copied; then
        while [ "$off" -lt "$rsize" ]; do
          chunk /dev/fd/5 "$rsize"; [ "$n" -gt 0 ] || break
        done
      else
        say GAP "$ino" "$off" "$rot" truncated
      fi
      rot=$rino off=0 last= head=
      say FILE "$ino" 0 "$rot"
      continue
    fi
    if [ "$csize" -gt "$off" ]; then chunk /dev/fd/4 "$csize"; hot=20; continue; fi
  else
    # PATH names another file now (or none): the one we read was renamed or removed
    if [ "$rino" = "$ino" ]; then
      # renamed to PATH.1 (held open on 5 even if renamed again): the writer may append
      # until it reopens its log, so drain it until it has been quiet for a while
      q=0
      while [ "$q" -lt "$settle" ]; do
        set -- $(st /dev/fd/5)
        if [ "$2" -gt "$off" ]; then chunk /dev/fd/5 "$2"; q=0; else q=$((q + 1)); sleep "$poll"; fi
      done
      rot=$ino
    else
      say GAP "$ino" "$off" "$rot" rotated; rot=$rino
    fi
    ino=$cino off=0 last= head=
    [ "$ino" = - ] || say FILE "$ino" 0 "$rot"
    continue
  fi
  i=$((i + 1))
  # a periodic line: the client sees we are alive, and we die soon after it has gone
  if [ "$i" -ge "$tick" ]; then i=0; say TICK "$ino" "$off" "$rot"; fi
  # a log that was just written to is looked at again soon: its next lines are due
  if [ "$hot" -gt 0 ]; then hot=$((hot - 1)); sleep "$fast"; else sleep "$poll"; fi
done
"""


TAIL = 64


@dataclass(frozen=True)
class Position:
    """Where the client is: the file (inode), the byte after the last complete line, PATH.1."""

    inode: str = ""  # "": not started (start from the end of the file); "-": no file yet
    offset: int = 0
    rotated: str = "-"
    last: bytes = b""  # the (up to) 64 bytes before offset: tells a truncated file from ours


@dataclass
class Output:
    """What one chunk of follower output amounted to."""

    lines: list[bytes] = field(default_factory=list)
    gaps: list[tuple[str, int]] = field(default_factory=list)  # (reason, offset it starts at)
    errors: list[str] = field(default_factory=list)
    frames: int = 0  # follower headers read (its periodic TICK too): the stream is alive


class FrameReader:
    """Turns the follower's byte stream into complete log lines and gap reports."""

    def __init__(self, tag: str, position: Position) -> None:
        self.tag = tag.encode()
        self._end = b"\n" + self.tag + b" END "
        self._buf = bytearray()
        self._in_data = False
        self._partial = bytearray()
        self.inode = position.inode
        self.offset = position.offset  # offset of the byte after the data received so far
        self.rotated = position.rotated
        self._last = position.last  # the 64 bytes up to the end of the last complete line

    @property
    def position(self) -> Position:
        """Where to resume: before any partial line, so it is read again whole."""
        return Position(self.inode, self.offset - len(self._partial), self.rotated, self._last)

    def feed(self, chunk: bytes) -> Output:
        out = Output()
        self._buf += chunk
        while True:
            if self._in_data:
                if not self._data(out):
                    break
            elif not self._header(out):
                break
        return out

    def _header(self, out: Output) -> bool:
        nl = self._buf.find(b"\n")
        if nl < 0:
            return False
        line = bytes(self._buf[:nl])
        del self._buf[: nl + 1]
        if not line.startswith(self.tag + b" "):
            out.errors.append(f"unexpected output from the follower: {line[:200]!r}")
            return True
        out.frames += 1
        words = line.decode("utf-8", "replace").split(" ")
        kind, args = words[1], words[2:]
        if kind == "ERROR":
            out.errors.append(" ".join(args))
            return True
        if len(args) < 3:
            out.errors.append(f"short follower header: {line[:200]!r}")
            return True
        if not args[1].isdecimal() or not args[1].isascii():
            out.errors.append(f"bad offset in follower header: {line[:200]!r}")
            return True
        inode, offset, rotated = args[0], int(args[1]), args[2]
        if kind in ("FILE", "GAP") or inode != self.inode:
            self._flush_partial(out)
            if kind != "DATA":
                self._last = b""
        if kind == "GAP":
            out.gaps.append((args[3] if len(args) > 3 else "unknown", offset))
        elif kind == "DATA":
            if inode == self.inode and offset != self.offset:
                out.errors.append(f"follower at offset {offset}, expected {self.offset}")
                self._partial.clear()
            self._in_data = True
        self.inode, self.offset, self.rotated = inode, offset, rotated
        if kind == "START":
            try:
                self._last = bytes.fromhex(args[3]) if len(args) > 3 else b""
            except ValueError:
                out.errors.append(f"bad last-bytes in follower header: {line[:200]!r}")
                self._last = b""
        return True

    def _data(self, out: Output) -> bool:
        end = self._buf.find(self._end)
        if end < 0:
            # keep enough back to recognise an END marker split across chunks
            safe = len(self._buf) - len(self._end)
            if safe > 0:
                self._take(bytes(self._buf[:safe]), out)
                del self._buf[:safe]
            return False
        nl = self._buf.find(b"\n", end + len(self._end))
        if nl < 0:
            self._take(bytes(self._buf[:end]), out)
            del self._buf[:end]
            return False
        self._take(bytes(self._buf[:end]), out)
        del self._buf[: nl + 1]
        self._in_data = False
        return True

    def _take(self, data: bytes, out: Output) -> None:
        if not data:
            return
        self.offset += len(data)
        last = data.rfind(b"\n")
        if last < 0:
            self._partial += data
            return
        first = bytes(self._partial) + data[:last]
        self._last = (self._last + bytes(self._partial[-TAIL:]) + data[: last + 1][-TAIL:])[-TAIL:]
        self._partial = bytearray(data[last + 1:])
        out.lines.extend(first.split(b"\n"))

    def _flush_partial(self, out: Output) -> None:
        """A file ended without a final newline: its last line is complete as it is."""
        if self._partial:
            out.lines.append(bytes(self._partial))
            self._partial.clear()
