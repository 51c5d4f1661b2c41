package wal

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"slices"

	"github.com/klauspost/compress/s2"
)

// File header, at offset 0 of every segment and checkpoint file (FORMAT.md).
const (
	fileHeaderSize = 8
	formatVersion  = 1

	kindSegment    = 1
	kindCheckpoint = 2
)

var fileMagic = [4]byte{'P', 'L', 'G', 'W'}

// Record frame: type (1) | payload length u32 LE (4) | CRC32C u32 LE (4) | payload.
const (
	recordHeaderSize = 9

	// recFull marks a frame holding one whole record. Type 0 is never
	// written, so a zero-filled region (a crash after the file grew but
	// before its data reached the disk) never decodes as a record.
	recFull = 1
	// recS2 marks a frame whose stored bytes are an S2 block
	// (github.com/klauspost/compress/s2, block format) of one whole record.
	recS2 = 2

	// minCompressSize: smaller records are stored raw; compressing them
	// saves too little to pay for the call.
	minCompressSize = 256

	// MaxRecordSize bounds one record's payload. Larger records are
	// rejected by Log and, on replay, a length above it is corruption.
	MaxRecordSize = 1 << 30
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func appendFileHeader(dst []byte, kind byte) []byte {
	dst = append(dst, fileMagic[:]...)
	return append(dst, formatVersion, kind, 0, 0)
}

// recordCRC returns the checksum of a raw (recFull) frame holding payload.
func recordCRC(payload []byte) uint32 { return frameCRC(recFull, payload) }

// frameCRC returns the checksum stored in a frame: CRC32C over the type
// byte, the length field and the stored bytes.
func frameCRC(typ byte, stored []byte) uint32 {
	var h [5]byte
	h[0] = typ
	binary.LittleEndian.PutUint32(h[1:], uint32(len(stored)))
	return crc32.Update(crc32.Update(0, castagnoli, h[:]), castagnoli, stored)
}

// appendRecord appends the raw frame of payload, whose recordCRC is crc.
func appendRecord(dst, payload []byte, crc uint32) []byte {
	return appendFrame(dst, recFull, payload, crc)
}

// appendFrame appends a frame of type typ holding stored, whose frameCRC is crc.
func appendFrame(dst []byte, typ byte, stored []byte, crc uint32) []byte {
	var h [recordHeaderSize]byte
	h[0] = typ
	binary.LittleEndian.PutUint32(h[1:5], uint32(len(stored)))
	binary.LittleEndian.PutUint32(h[5:9], crc)
	dst = append(dst, h[:]...)
	return append(dst, stored...)
}

// compressInto appends the S2 block of rec to scratch if that saves at least
// 1/8 of its size. It returns the extended scratch and whether it did; on
// false scratch is returned unchanged and rec is to be stored raw.
func compressInto(scratch, rec []byte) ([]byte, bool) {
	if len(rec) < minCompressSize {
		return scratch, false
	}
	start := len(scratch)
	scratch = slices.Grow(scratch, s2.MaxEncodedLen(len(rec)))
	enc := s2.Encode(scratch[start:cap(scratch)], rec)
	if len(enc) > len(rec)-len(rec)/8 {
		return scratch[:start], false
	}
	return scratch[:start+len(enc)], true
}

// ErrUnknownFormat is wrapped by errors about a file whose header is intact
// but is not a version-1 segment or checkpoint (a newer version, or not a
// WAL file at all). Such a file is never truncated or skipped: Open and
// Replay fail and an operator decides.
var ErrUnknownFormat = errors.New("unknown WAL file format")

// frameError describes the first invalid byte range of a file. Offset is
// where the invalid frame (or header) starts; everything before it is valid.
type frameError struct {
	Offset int64
	Reason string
	// Torn is true when the file simply ends early (header or payload cut
	// short), the signature of a crash mid-write.
	Torn bool
}

func (e *frameError) Error() string {
	return fmt.Sprintf("offset %d: %s", e.Offset, e.Reason)
}

// recordReader decodes the frames of one file. The payload returned by
// next is valid until the following call.
type recordReader struct {
	br   *bufio.Reader
	size int64 // file size; bounds every length field
	off  int64 // offset of the next frame
	kind byte
	buf  []byte // frames larger than the read buffer
	dec  []byte // decompressed records
	// frame is the stored frame of the record next returned last (for
	// tests); valid until the next call.
	frame []byte
}

const readBufferSize = 1 << 20

func newRecordReader(br *bufio.Reader, size int64, kind byte) *recordReader {
	return &recordReader{br: br, size: size, kind: kind}
}

// readHeader validates the file header. An empty file is valid and holds no
// records. It returns a *frameError for a cut-short or zero-filled header
// and ErrUnknownFormat (wrapped) for a foreign or newer file.
func (r *recordReader) readHeader() error {
	if r.size == 0 {
		return io.EOF
	}
	h, err := r.br.Peek(fileHeaderSize)
	if len(h) < fileHeaderSize {
		if err == nil || err == io.EOF {
			return &frameError{Offset: 0, Reason: fmt.Sprintf("file header cut short at %d bytes", len(h)), Torn: true}
		}
		return err
	}
	if allZero(h) {
		return &frameError{Offset: 0, Reason: "zero-filled file header"}
	}
	if !bytes.Equal(h[:4], fileMagic[:]) {
		return fmt.Errorf("bad magic %q: %w", h[:4], ErrUnknownFormat)
	}
	if h[4] != formatVersion {
		return fmt.Errorf("version %d: %w", h[4], ErrUnknownFormat)
	}
	if h[5] != r.kind {
		return fmt.Errorf("file kind %d, want %d: %w", h[5], r.kind, ErrUnknownFormat)
	}
	if h[6] != 0 || h[7] != 0 {
		// Reserved for flags of a later version; an older reader must not
		// guess what they mean.
		return fmt.Errorf("reserved header bytes %02x%02x set: %w", h[6], h[7], ErrUnknownFormat)
	}
	if _, err := r.br.Discard(fileHeaderSize); err != nil {
		return err
	}
	r.off = fileHeaderSize
	return nil
}

// next returns the next payload, io.EOF at a clean end of file, a
// *frameError for an invalid frame, or an I/O error.
func (r *recordReader) next() ([]byte, error) {
	if r.off >= r.size {
		return nil, io.EOF
	}
	remaining := r.size - r.off
	if remaining < recordHeaderSize {
		return nil, &frameError{Offset: r.off, Reason: fmt.Sprintf("record header cut short: %d of %d bytes", remaining, recordHeaderSize), Torn: true}
	}
	h, err := r.br.Peek(recordHeaderSize)
	if err != nil {
		return nil, r.ioErr(err)
	}
	typ := h[0]
	n := binary.LittleEndian.Uint32(h[1:5])
	want := binary.LittleEndian.Uint32(h[5:9])
	switch {
	case typ != recFull && typ != recS2:
		return nil, &frameError{Offset: r.off, Reason: fmt.Sprintf("invalid record type %d", typ)}
	case n > MaxRecordSize:
		return nil, &frameError{Offset: r.off, Reason: fmt.Sprintf("record length %d exceeds maximum %d", n, MaxRecordSize)}
	case int64(n) > remaining-recordHeaderSize:
		return nil, &frameError{Offset: r.off, Reason: fmt.Sprintf("record of %d bytes cut short: %d bytes left", n, remaining-recordHeaderSize), Torn: true}
	}
	frameLen := recordHeaderSize + int(n)
	var frame []byte
	peeked := frameLen <= r.br.Size()
	if peeked {
		// Zero-copy: the frame fits the read buffer. It stays valid until
		// the next read from br, i.e. until the next call.
		if frame, err = r.br.Peek(frameLen); err != nil {
			return nil, r.ioErr(err)
		}
	} else {
		if cap(r.buf) < frameLen {
			r.buf = make([]byte, frameLen)
		}
		frame = r.buf[:frameLen]
		if _, err := io.ReadFull(r.br, frame); err != nil {
			return nil, r.ioErr(err)
		}
	}
	payload := frame[recordHeaderSize:]
	if got := crc32.Update(crc32.Update(0, castagnoli, frame[:5]), castagnoli, payload); got != want {
		return nil, &frameError{Offset: r.off, Reason: fmt.Sprintf("checksum mismatch: stored %08x, computed %08x", want, got)}
	}
	r.frame = frame
	if typ == recS2 {
		// The checksum matched, so these are the bytes the writer stored;
		// a block that does not decode means a writer bug, not a torn write.
		n, err := s2.DecodedLen(payload)
		if err != nil || n > MaxRecordSize {
			return nil, &frameError{Offset: r.off, Reason: fmt.Sprintf("invalid compressed record (decoded length %d): %v", n, err)}
		}
		if cap(r.dec) < n {
			r.dec = make([]byte, n)
		}
		if payload, err = s2.Decode(r.dec[:n], payload); err != nil {
			return nil, &frameError{Offset: r.off, Reason: fmt.Sprintf("invalid compressed record: %v", err)}
		}
	}
	if peeked {
		// Discard only advances past bytes Peek already buffered; the
		// payload slice stays valid until the next Peek or Read.
		_, _ = r.br.Discard(frameLen)
	}
	r.off += int64(frameLen)
	return payload, nil
}

// ioErr turns an early EOF (the file shrank under us, or size was wrong)
// into a torn frame, and passes other errors through.
func (r *recordReader) ioErr(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return &frameError{Offset: r.off, Reason: "unexpected end of file", Torn: true}
	}
	return err
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
