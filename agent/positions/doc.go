// Package positions persists, per tailed file, the byte offset up to which
// every line has been acknowledged by an ingester, together with the file's
// device and inode so a restart can tell a rotated file from the same one.
//
// It owns the positions file (format in FORMAT.md): loading it, keeping the
// in-memory map, and writing it atomically on a period and at shutdown. It
// must not read log files or decide when an offset is acknowledged; callers
// Set only offsets that are safe to resume from.
package positions
