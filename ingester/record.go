package ingester

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/plgstack/plg/push"
)

// WAL record payloads. The wal package frames and checksums records; this
// file defines what is inside them. FORMAT.md documents the bytes.
//
//	record   := type:u8 tenant:str nstreams:uvarint stream*
//	stream   := labels:str nentries:uvarint entry*
//	entry    := ts:varint line:str nmeta:uvarint (name:str value:str)*
//	str      := len:uvarint bytes
//
// Checkpoints hold the same records, so replay has one decoder.
const recordEntries byte = 1

type recordStream struct {
	labels  string
	entries []push.Entry
}

// recordEncoder appends entries records to a reusable buffer.
type recordEncoder struct {
	buf []byte
}

func (e *recordEncoder) begin(tenant string, nstreams int) {
	e.buf = append(e.buf[:0], recordEntries)
	e.buf = appendString(e.buf, tenant)
	e.buf = binary.AppendUvarint(e.buf, uint64(nstreams))
}

func (e *recordEncoder) stream(lbls string, nentries int) {
	e.buf = appendString(e.buf, lbls)
	e.buf = binary.AppendUvarint(e.buf, uint64(nentries))
}

func (e *recordEncoder) entry(ts int64, line []byte, metadata labels.Labels) {
	e.buf = binary.AppendVarint(e.buf, ts)
	e.buf = binary.AppendUvarint(e.buf, uint64(len(line)))
	e.buf = append(e.buf, line...)
	e.buf = binary.AppendUvarint(e.buf, uint64(metadata.Len()))
	metadata.Range(func(l labels.Label) {
		e.buf = appendString(e.buf, l.Name)
		e.buf = appendString(e.buf, l.Value)
	})
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

var errShortRecord = errors.New("record truncated")

// recordDecoder reads an entries record. Lines alias the record buffer.
type recordDecoder struct {
	b   []byte
	off int
	sb  labels.ScratchBuilder
}

func (d *recordDecoder) uvarint() (uint64, error) {
	v, n := binary.Uvarint(d.b[d.off:])
	if n <= 0 {
		return 0, errShortRecord
	}
	d.off += n
	return v, nil
}

func (d *recordDecoder) bytes() ([]byte, error) {
	n, err := d.uvarint()
	if err != nil {
		return nil, err
	}
	if n > uint64(len(d.b)-d.off) {
		return nil, errShortRecord
	}
	s := d.b[d.off : d.off+int(n)]
	d.off += int(n)
	return s, nil
}

// decodeRecord calls fn for each stream of an entries record.
func decodeRecord(rec []byte, fn func(tenant string, s *recordStream) error) error {
	if len(rec) == 0 || rec[0] != recordEntries {
		return fmt.Errorf("unknown WAL record type")
	}
	d := recordDecoder{b: rec, off: 1}
	tenant, err := d.bytes()
	if err != nil {
		return fmt.Errorf("tenant: %w", err)
	}
	nstreams, err := d.uvarint()
	if err != nil {
		return fmt.Errorf("stream count: %w", err)
	}
	var s recordStream
	for i := uint64(0); i < nstreams; i++ {
		lbls, err := d.bytes()
		if err != nil {
			return fmt.Errorf("stream %d labels: %w", i, err)
		}
		n, err := d.uvarint()
		if err != nil {
			return fmt.Errorf("stream %d entry count: %w", i, err)
		}
		if n > uint64(len(rec)) {
			return fmt.Errorf("stream %d: entry count %d exceeds record size", i, n)
		}
		s.labels = string(lbls)
		s.entries = s.entries[:0]
		for j := uint64(0); j < n; j++ {
			ts, k := binary.Varint(d.b[d.off:])
			if k <= 0 {
				return fmt.Errorf("stream %d entry %d timestamp: %w", i, j, errShortRecord)
			}
			d.off += k
			line, err := d.bytes()
			if err != nil {
				return fmt.Errorf("stream %d entry %d line: %w", i, j, err)
			}
			nmeta, err := d.uvarint()
			if err != nil {
				return fmt.Errorf("stream %d entry %d metadata: %w", i, j, err)
			}
			var md labels.Labels
			if nmeta > 0 {
				if nmeta > uint64(len(rec)) {
					return fmt.Errorf("stream %d entry %d: metadata count %d exceeds record size", i, j, nmeta)
				}
				d.sb.Reset()
				for m := uint64(0); m < nmeta; m++ {
					name, err := d.bytes()
					if err != nil {
						return fmt.Errorf("stream %d entry %d metadata: %w", i, j, err)
					}
					value, err := d.bytes()
					if err != nil {
						return fmt.Errorf("stream %d entry %d metadata: %w", i, j, err)
					}
					d.sb.Add(string(name), string(value))
				}
				d.sb.Sort()
				md = d.sb.Labels()
			}
			s.entries = append(s.entries, push.Entry{Timestamp: ts, Line: line, Metadata: md})
		}
		if err := fn(string(tenant), &s); err != nil {
			return err
		}
	}
	if d.off != len(rec) {
		return fmt.Errorf("%d trailing bytes after record", len(rec)-d.off)
	}
	return nil
}
