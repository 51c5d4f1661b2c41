package log

import (
	"github.com/prometheus/prometheus/model/labels"
)

// Stage is one step of a pipeline. Process sees a line and the labels built
// so far, may change both, and returns the line to pass on and whether to
// keep it. The returned slice may alias line or a buffer the stage reuses on
// its next call.
type Stage interface {
	Process(ts int64, line []byte, lbs *LabelsBuilder) ([]byte, bool)
}

// StageFunc adapts a function to Stage.
type StageFunc func(ts int64, line []byte, lbs *LabelsBuilder) ([]byte, bool)

// Process implements Stage.
func (f StageFunc) Process(ts int64, line []byte, lbs *LabelsBuilder) ([]byte, bool) {
	return f(ts, line, lbs)
}

// Pipeline runs stages in order and caches per-stream state. It is not safe
// for concurrent use.
type Pipeline struct {
	stages  []Stage
	streams map[uint64][]*StreamPipeline
	results *resultCache
}

// NewPipeline returns a pipeline running stages in order. A nil or empty
// list yields a pipeline that keeps every line unchanged.
func NewPipeline(stages []Stage) *Pipeline {
	return &Pipeline{stages: stages, streams: make(map[uint64][]*StreamPipeline), results: newResultCache()}
}

// Stages returns the pipeline's stages.
func (p *Pipeline) Stages() []Stage { return p.stages }

// ForStream returns the pipeline specialised for one stream. Calls with
// equal labels return the same StreamPipeline.
func (p *Pipeline) ForStream(streamLabels labels.Labels) *StreamPipeline {
	h := streamLabels.Hash()
	for _, sp := range p.streams[h] {
		if labels.Equal(sp.builder.stream, streamLabels) {
			return sp
		}
	}
	sp := &StreamPipeline{
		stages:     p.stages,
		builder:    newLabelsBuilder(streamLabels, p.results),
		streamHash: HashLabels(streamLabels),
	}
	p.streams[h] = append(p.streams[h], sp)
	return sp
}

// StreamPipeline is a Pipeline bound to one stream's labels.
type StreamPipeline struct {
	stages     []Stage
	builder    *LabelsBuilder
	streamHash uint64
}

// Process runs the pipeline over one entry. It returns the output line, the
// entry's final labels (stream labels, structured metadata, parsed labels and
// any __error__), their hash, and whether the line is kept. The output line
// may alias line or a buffer reused by the next call; lbls stays valid.
func (sp *StreamPipeline) Process(ts int64, line []byte, metadata labels.Labels) (out []byte, lbls labels.Labels, hash uint64, keep bool) {
	if len(sp.stages) == 0 && metadata.IsEmpty() {
		return line, sp.builder.stream, sp.streamHash, true
	}
	out, ok := sp.run(ts, line, metadata)
	if !ok {
		return nil, labels.EmptyLabels(), 0, false
	}
	lbls, hash = sp.builder.Labels()
	return out, lbls, hash, true
}

// run resets the builder and runs every stage; the labels are left in the
// builder for the caller to read.
func (sp *StreamPipeline) run(ts int64, line []byte, metadata labels.Labels) ([]byte, bool) {
	sp.builder.Reset(metadata)
	for _, s := range sp.stages {
		var ok bool
		line, ok = s.Process(ts, line, sp.builder)
		if !ok {
			return nil, false
		}
	}
	return line, true
}

// Builder returns the labels builder the stream pipeline uses; after Process
// it holds the last line's labels.
func (sp *StreamPipeline) Builder() *LabelsBuilder { return sp.builder }
