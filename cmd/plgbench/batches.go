package main

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/plgstack/plg/push"
)

// The corpus is generated before the clock starts, as push bodies in one
// file per client, so the ingest figures measure the server and not the
// generator. A client owns the streams s with s % clients == its index, as
// separate agents would, so each stream's lines arrive in order.
//
// Batch file record: body length, line count and raw line bytes as
// little-endian uint32s, then the body (snappy-compressed protobuf, ready
// to POST).

const (
	recordHeader = 12
	maxRecord    = 64 << 20
)

// batchRecord is one push body and what it carries.
type batchRecord struct {
	Body  []byte
	Lines int
	Raw   int // bytes of log text
}

// readRecord reads the next record into rec, reusing rec.Body. It returns
// io.EOF at a clean end.
func readRecord(r io.Reader, rec *batchRecord) error {
	var h [recordHeader]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return fmt.Errorf("batch record header: %w", err)
		}
		return err
	}
	n := binary.LittleEndian.Uint32(h[0:])
	if n > maxRecord {
		return fmt.Errorf("batch record of %d bytes: over the %d byte limit", n, maxRecord)
	}
	rec.Lines = int(binary.LittleEndian.Uint32(h[4:]))
	rec.Raw = int(binary.LittleEndian.Uint32(h[8:]))
	if cap(rec.Body) < int(n) {
		rec.Body = make([]byte, n)
	}
	rec.Body = rec.Body[:n]
	if _, err := io.ReadFull(r, rec.Body); err != nil {
		return fmt.Errorf("batch record body of %d bytes: %w", n, noEOF(err))
	}
	return nil
}

func noEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

func appendRecordHeader(b []byte, rec *batchRecord) []byte {
	b = binary.LittleEndian.AppendUint32(b, uint32(len(rec.Body)))
	b = binary.LittleEndian.AppendUint32(b, uint32(rec.Lines))
	return binary.LittleEndian.AppendUint32(b, uint32(rec.Raw))
}

// batchBuilder gathers one client's lines into a push request of about
// batchBytes of text. Lines are copied into an arena; entries are built
// from offsets when the batch is encoded.
type batchBuilder struct {
	arena    []byte
	perSlot  [][]lineRef // by slot, in order of first appearance
	slotOf   map[int]int // stream -> slot
	labels   []string    // by slot
	lines    int
	req      push.Request
	body     []byte
	scratch  []byte
	hdr      []byte
	streamOf []int // by slot
	// bodyBytes counts the push bodies written.
	bodyBytes int64
}

type lineRef struct {
	ts         int64
	start, end int
}

func newBatchBuilder() *batchBuilder {
	return &batchBuilder{slotOf: map[int]int{}}
}

func (b *batchBuilder) add(stream int, labels string, ts int64, line []byte) {
	slot, ok := b.slotOf[stream]
	if !ok {
		slot = len(b.streamOf)
		b.slotOf[stream] = slot
		b.streamOf = append(b.streamOf, stream)
		b.labels = append(b.labels, labels)
		if slot < len(b.perSlot) {
			b.perSlot[slot] = b.perSlot[slot][:0]
		} else {
			b.perSlot = append(b.perSlot, nil)
		}
	}
	start := len(b.arena)
	b.arena = append(b.arena, line...)
	b.perSlot[slot] = append(b.perSlot[slot], lineRef{ts: ts, start: start, end: len(b.arena)})
	b.lines++
}

// writeTo encodes the batch, writes it as a record and resets the builder.
func (b *batchBuilder) writeTo(w io.Writer) error {
	if b.lines == 0 {
		return nil
	}
	streams := b.req.Streams[:0]
	for slot := range b.streamOf {
		if slot < cap(streams) {
			streams = streams[:slot+1] // reuse the old Entries slice
		} else {
			streams = append(streams, push.Stream{})
		}
		s := &streams[slot]
		s.Labels = b.labels[slot]
		s.Entries = s.Entries[:0]
		for _, r := range b.perSlot[slot] {
			s.Entries = append(s.Entries, push.Entry{Timestamp: r.ts, Line: b.arena[r.start:r.end]})
		}
	}
	b.req.Streams = streams
	b.body, b.scratch = push.AppendBody(b.body[:0], b.scratch, &b.req)
	rec := batchRecord{Body: b.body, Lines: b.lines, Raw: len(b.arena)}
	b.hdr = appendRecordHeader(b.hdr[:0], &rec)
	if _, err := w.Write(b.hdr); err != nil {
		return err
	}
	if _, err := w.Write(b.body); err != nil {
		return err
	}
	b.bodyBytes += int64(len(b.body))
	b.arena = b.arena[:0]
	b.lines = 0
	b.streamOf = b.streamOf[:0]
	b.labels = b.labels[:0]
	clear(b.slotOf)
	return nil
}

// genResult is what generating the batch files produced.
type genResult struct {
	Truth    *Truth
	Files    []string
	Duration time.Duration
	Bodies   int64 // bytes of push bodies
	Batches  int
}

// writeBatchFiles generates the corpus into one batch file per client under
// dir, cutting a batch at batchBytes of text.
func writeBatchFiles(cfg corpusConfig, dir string, clients, batchBytes int) (*genResult, error) {
	start := time.Now()
	g, err := newGenerator(cfg)
	if err != nil {
		return nil, err
	}
	res := &genResult{}
	type out struct {
		f *os.File
		w *bufio.Writer
		b *batchBuilder
	}
	outs := make([]*out, clients)
	defer func() {
		for _, o := range outs {
			if o != nil {
				o.f.Close()
			}
		}
	}()
	for c := range outs {
		name := filepath.Join(dir, fmt.Sprintf("client-%02d.batches", c))
		f, err := os.Create(name)
		if err != nil {
			return nil, err
		}
		outs[c] = &out{f: f, w: bufio.NewWriterSize(f, 1<<20), b: newBatchBuilder()}
		res.Files = append(res.Files, name)
	}
	for !g.done() {
		s, ts, line := g.next()
		o := outs[s%clients]
		o.b.add(s, g.streams[s].Labels, ts, line)
		if len(o.b.arena) >= batchBytes {
			if err := o.b.writeTo(o.w); err != nil {
				return nil, fmt.Errorf("writing %s: %w", o.f.Name(), err)
			}
			res.Batches++
		}
	}
	for _, o := range outs {
		if o.b.lines > 0 {
			res.Batches++
		}
		if err := o.b.writeTo(o.w); err != nil {
			return nil, fmt.Errorf("writing %s: %w", o.f.Name(), err)
		}
		if err := o.w.Flush(); err != nil {
			return nil, fmt.Errorf("writing %s: %w", o.f.Name(), err)
		}
		if err := o.f.Close(); err != nil {
			return nil, fmt.Errorf("closing %s: %w", o.f.Name(), err)
		}
		res.Bodies += o.b.bodyBytes
	}
	outs = nil
	res.Truth = g.finish()
	res.Duration = time.Since(start)
	return res, nil
}
