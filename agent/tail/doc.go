// Package tail follows one log file by path: it reads appended data, splits
// it into complete lines, and survives rotation by rename-and-create,
// copytruncate, and deletion of the open file. Files are identified by
// device and inode as well as path, so a rotation while the agent was down
// is detected on restart and the old file is finished first.
//
// It owns reading and the per-file acknowledgement tracker that turns
// acknowledged lines into positions. It must not parse lines, apply
// pipeline stages, or send anything: lines go to a Handler, and their
// positions advance only when the tickets handed out with them are done.
//
// Polling, not inotify: at EOF the tailer sleeps MinPoll, doubling up to
// MaxPoll while the file stays idle, the way Promtail does.
package tail
