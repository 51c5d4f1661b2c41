package chunks

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"sync"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
)

// Encoding is the codec that compresses a chunk's blocks. Its byte value is
// persisted in the chunk header, so existing values must never change.
type Encoding byte

// Codecs. DefaultEncoding (zstd) gives the smallest chunks at a decode speed
// well above what a query can consume; S2 and Snappy trade size for speed.
const (
	None   Encoding = 0
	Snappy Encoding = 1
	S2     Encoding = 2
	Zstd   Encoding = 3
	Gzip   Encoding = 4

	DefaultEncoding = Zstd
)

var encodingNames = [...]string{None: "none", Snappy: "snappy", S2: "s2", Zstd: "zstd", Gzip: "gzip"}

// Encodings lists every supported codec, in byte order.
func Encodings() []Encoding { return []Encoding{None, Snappy, S2, Zstd, Gzip} }

// String returns the codec's configuration name ("zstd", ...).
func (e Encoding) String() string {
	if e.valid() {
		return encodingNames[e]
	}
	return fmt.Sprintf("encoding(%d)", byte(e))
}

func (e Encoding) valid() bool { return int(e) < len(encodingNames) }

// ParseEncoding maps a configuration name (case-insensitive) to its codec.
func ParseEncoding(s string) (Encoding, error) {
	for i, n := range encodingNames {
		if strings.EqualFold(s, n) {
			return Encoding(i), nil
		}
	}
	return 0, fmt.Errorf("unknown chunk encoding %q (want one of none, snappy, s2, zstd, gzip)", s)
}

// errCorrupt marks a block whose compressed bytes do not decode to the
// length recorded in the index.
var errCorrupt = errors.New("corrupt compressed data")

// zstd encoders and decoders are expensive to build (tables, window
// buffers); the process shares one decoder and one encoder per level, built
// on first use. EncodeAll and DecodeAll are safe for concurrent use and keep
// their own internal pools.
var (
	zstdEncoders [zstd.SpeedBestCompression + 1]struct {
		once sync.Once
		enc  *zstd.Encoder
	}
	zstdDecoder = sync.OnceValue(func() *zstd.Decoder {
		dec, err := zstd.NewReader(nil,
			zstd.WithDecoderConcurrency(runtime.GOMAXPROCS(0)),
			zstd.WithDecoderMaxMemory(MaxBlockSize),
			zstd.WithDecodeAllCapLimit(true), // never grow dst beyond the length the index promises
		)
		if err != nil {
			panic(fmt.Sprintf("chunks: zstd decoder: %v", err))
		}
		return dec
	})
	gzipWriters sync.Pool // *gzip.Writer
	gzipReaders sync.Pool // *gzip.Reader
)

// DefaultZstdLevel is the zstd level blocks are sealed at when Options
// leave it unset. See FORMAT.md, "Compression level and block size", for
// the measurements behind it.
const DefaultZstdLevel = zstd.SpeedBetterCompression

// ParseZstdLevel maps a configuration name (fastest, default, better,
// best; case-insensitive) to a zstd level.
func ParseZstdLevel(s string) (zstd.EncoderLevel, error) {
	if ok, l := zstd.EncoderLevelFromString(s); ok {
		return l, nil
	}
	return 0, fmt.Errorf("unknown zstd level %q (want one of fastest, default, better, best)", s)
}

// zstdWindow is the encoders' window. Every frame is compressed on its
// own and holds at most a block's text (256 KiB by default, 320 KiB when
// Encode merges small blocks; see mergeLimit), so a larger window finds
// no more matches: it only sizes the encoder's history buffer, which
// WithLowerEncoderMem keeps at the window plus one 128 KiB zstd block
// instead of twice the window (at least 1 MiB). Blocks configured larger
// than the window compress a little worse (FORMAT.md).
const zstdWindow = 512 << 10

// zstdConcurrency is how many blocks one level's shared encoder
// compresses at once: one per core. Each concurrent encoder holds its own
// match tables for the life of the process (a 4 MiB long-match table at
// SpeedBetterCompression, 256 KiB at SpeedFastest), and the ingester's
// soft memory limit (cmd/plg) leaves the live heap half its size again to
// grow into. Half as many encoders at SpeedBetterCompression saved 4 MiB
// on two cores, but seals then queued behind one encoder and ingest fell
// from about 430k to 350k lines/s (plgbench 1 GB, FORMAT.md).
func zstdConcurrency() int { return runtime.GOMAXPROCS(0) }

// zstdEncoder returns the shared encoder for level (DefaultZstdLevel if
// it is not a valid level).
func zstdEncoder(level zstd.EncoderLevel) *zstd.Encoder {
	if level <= 0 || level > zstd.SpeedBestCompression {
		level = DefaultZstdLevel
	}
	z := &zstdEncoders[level]
	z.once.Do(func() { z.enc = newZstdEncoder(level) })
	return z.enc
}

func newZstdEncoder(level zstd.EncoderLevel) *zstd.Encoder {
	enc, err := zstd.NewWriter(nil,
		zstd.WithEncoderLevel(level),
		zstd.WithEncoderCRC(false), // every block carries a CRC32C already
		zstd.WithEncoderConcurrency(zstdConcurrency()),
		zstd.WithWindowSize(zstdWindow),
		zstd.WithLowerEncoderMem(true),
		zstd.WithZeroFrames(true),
	)
	if err != nil {
		panic(fmt.Sprintf("chunks: zstd encoder: %v", err)) // static options: cannot fail
	}
	return enc
}

// compress appends the compressed form of src to dst, at the codec's
// default level.
func (e Encoding) compress(dst, src []byte) ([]byte, error) {
	return e.compressLevel(dst, src, 0)
}

// compressLevel appends the compressed form of src to dst; level applies
// to zstd only (0: DefaultZstdLevel).
func (e Encoding) compressLevel(dst, src []byte, level zstd.EncoderLevel) ([]byte, error) {
	switch e {
	case None:
		return append(dst, src...), nil
	case Snappy:
		return appendBlock(dst, src, s2.MaxEncodedLen(len(src)), s2.EncodeSnappy), nil
	case S2:
		return appendBlock(dst, src, s2.MaxEncodedLen(len(src)), s2.Encode), nil
	case Zstd:
		return zstdEncoder(level).EncodeAll(src, dst), nil
	case Gzip:
		buf := bytes.NewBuffer(dst)
		w, _ := gzipWriters.Get().(*gzip.Writer)
		if w == nil {
			w = gzip.NewWriter(buf)
		} else {
			w.Reset(buf)
		}
		_, err := w.Write(src)
		if err == nil {
			err = w.Close()
		}
		gzipWriters.Put(w)
		if err != nil {
			return dst, fmt.Errorf("gzip: %w", err)
		}
		return buf.Bytes(), nil
	}
	return dst, fmt.Errorf("unknown encoding %d", byte(e))
}

// appendBlock runs an s2-style block encoder into the spare capacity of dst.
func appendBlock(dst, src []byte, maxLen int, enc func(dst, src []byte) []byte) []byte {
	n := len(dst)
	dst = growCap(dst, maxLen)
	out := enc(dst[n:n+maxLen], src)
	return dst[:n+len(out)]
}

// growCap returns dst with room for at least n more bytes after len(dst).
func growCap(dst []byte, n int) []byte {
	if cap(dst)-len(dst) >= n {
		return dst
	}
	nb := make([]byte, len(dst), len(dst)+n)
	copy(nb, dst)
	return nb
}

// decodeSlack is the spare capacity a decompression buffer keeps beyond
// the bytes it will hold: the zstd decoder's fast copy loops write up to
// 16 bytes past the end and run only when there is room for that; with an
// exactly sized buffer it falls back to bounds-exact copies
// (sequenceDecs_decodeSync_safe in profiles), 5-10% slower on log text
// (BenchmarkDecompressSlack).
const decodeSlack = 64

// decompress decodes src, which must expand to exactly size bytes, into
// dst[:0] (reusing its capacity) and returns the result.
func (e Encoding) decompress(dst, src []byte, size int) ([]byte, error) {
	if size < 0 || size > MaxBlockSize {
		return dst[:0], fmt.Errorf("uncompressed length %d out of range", size)
	}
	if cap(dst) < size+decodeSlack {
		dst = make([]byte, 0, size+decodeSlack)
	}
	dst = dst[:size]
	switch e {
	case None:
		if len(src) != size {
			return dst[:0], errCorrupt
		}
		copy(dst, src)
		return dst, nil
	case Snappy, S2:
		// The s2 decoder reads both formats; s2 is a superset of snappy.
		n, err := s2.DecodedLen(src)
		if err != nil {
			return dst[:0], fmt.Errorf("%s: %w", e, err)
		}
		if n != size {
			return dst[:0], errCorrupt
		}
		out, err := s2.Decode(dst, src)
		if err != nil {
			return dst[:0], fmt.Errorf("%s: %w", e, err)
		}
		return out, nil
	case Zstd:
		out, err := zstdDecoder().DecodeAll(src, dst[:0])
		if err != nil {
			return dst[:0], fmt.Errorf("zstd: %w", err)
		}
		if len(out) != size {
			return dst[:0], errCorrupt
		}
		return out, nil
	case Gzip:
		r, _ := gzipReaders.Get().(*gzip.Reader)
		var err error
		if r == nil {
			r, err = gzip.NewReader(bytes.NewReader(src))
			if err != nil {
				return dst[:0], fmt.Errorf("gzip: %w", err)
			}
		} else if err = r.Reset(bytes.NewReader(src)); err != nil {
			gzipReaders.Put(r) // Reset fully reinitialises it next time
			return dst[:0], fmt.Errorf("gzip: %w", err)
		}
		defer gzipReaders.Put(r)
		r.Multistream(false)
		if _, err := io.ReadFull(r, dst); err != nil {
			return dst[:0], fmt.Errorf("gzip: %w", err)
		}
		var one [1]byte
		if n, err := r.Read(one[:]); n != 0 || err != io.EOF {
			return dst[:0], errCorrupt
		}
		return dst, nil
	}
	return dst[:0], fmt.Errorf("unknown encoding %d", byte(e))
}
