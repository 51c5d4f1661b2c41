package log

// Extraction hints: a metric query that groups samples by a few labels
// needs only those labels (and the ones later stages read) from a parser
// that would otherwise extract every field. The sample extractors compute
// the needed set and hand it to the json and logfmt parsers, which then
// still scan the whole line (so malformed lines still get __error__) but
// materialize only wanted labels.

// labelReader is implemented by stages that read labels. all means the
// stage may read any label.
type labelReader interface {
	requiredLabels() (names []string, all bool)
}

// hintable is implemented by parsers that can skip unwanted labels.
type hintable interface {
	setWanted(names map[string]struct{})
}

// stageRequirements returns the labels s reads. Stages this package does
// not know are assumed to read everything.
func stageRequirements(s Stage) ([]string, bool) {
	switch x := s.(type) {
	case labelReader:
		return x.requiredLabels()
	case *LineFilter, *Decolorize, *JSONParser, *LogfmtParser, *RegexpParser,
		*PatternParser, *UnpackParser, *JSONExpressionParser, *LogfmtExpressionParser:
		return nil, false
	}
	return nil, true
}

// applyHints tells the parsers of stages which labels the stages after them
// and the consumer (needed) read. A nil needed means everything is needed.
func applyHints(stages []Stage, needed map[string]struct{}) {
	for i := len(stages) - 1; i >= 0; i-- {
		s := stages[i]
		if h, ok := s.(hintable); ok && needed != nil {
			w := make(map[string]struct{}, len(needed))
			for n := range needed {
				// "" stands for no label (a grouping keeping none); a
				// parser never sets it, so counting it would keep the
				// parse from stopping once the wanted labels are set.
				if n != "" {
					w[n] = struct{}{}
				}
			}
			h.setWanted(w)
		}
		names, all := stageRequirements(s)
		if all || needed == nil {
			return
		}
		for _, n := range names {
			needed[n] = struct{}{}
		}
	}
}

func (f *StringLabelFilter) requiredLabels() ([]string, bool)  { return []string{f.m.Name}, false }
func (f *NumericLabelFilter) requiredLabels() ([]string, bool) { return []string{f.name}, false }
func (f *DurationLabelFilter) requiredLabels() ([]string, bool) {
	return []string{f.name}, false
}
func (f *BytesLabelFilter) requiredLabels() ([]string, bool) { return []string{f.name}, false }
func (f *IPLabelFilter) requiredLabels() ([]string, bool)    { return []string{f.name}, false }

func (f *BinaryLabelFilter) requiredLabels() ([]string, bool) {
	l, la := stageRequirements(f.left)
	r, ra := stageRequirements(f.right)
	return append(append([]string(nil), l...), r...), la || ra
}

func (f *LineFormatter) requiredLabels() ([]string, bool) { return f.ft.fields, f.ft.all }

func (f *LabelFormatter) requiredLabels() ([]string, bool) {
	var names []string
	for _, lf := range f.fmts {
		switch {
		case lf.Rename:
			names = append(names, lf.Value)
		case lf.ft != nil:
			if lf.ft.all {
				return nil, true
			}
			names = append(names, lf.ft.fields...)
		}
	}
	return names, false
}

func (d *DropLabels) requiredLabels() ([]string, bool) {
	var names []string
	for _, m := range d.m {
		if m.Matcher != nil {
			names = append(names, m.Matcher.Name)
		}
	}
	return names, false
}

func (k *KeepLabels) requiredLabels() ([]string, bool) {
	var names []string
	for _, m := range k.m {
		names = append(names, m.name())
	}
	return names, false
}

func (j *JSONParser) setWanted(names map[string]struct{}) {
	j.wanted = names
	j.names = nameCaches{}
}

func (l *LogfmtParser) setWanted(names map[string]struct{}) {
	l.wanted = names
	l.names = nameCaches{}
}

// wantedName filters a resolved label name through the parser's hints.
func wantedName(wanted map[string]struct{}, name string) string {
	if wanted == nil || name == "" {
		return name
	}
	if _, ok := wanted[name]; ok {
		return name
	}
	return ""
}
