package syntax

import (
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/prometheus/common/model"
)

// tokenKind enumerates lexical tokens. The order after tokIllegal follows
// the %token declarations of Loki's yacc grammar, so "expecting A or B"
// lists come out in the same order as Loki's.
type tokenKind uint8

const (
	tokEOF     tokenKind = iota
	tokError             // lexical error; msg holds the text
	tokIllegal           // a character no token starts with; shown as IDENTIFIER like Loki

	tokBytes
	tokIdentifier
	tokString
	tokNumber
	tokParserFlag
	tokDuration
	tokRange
	tokEQ
	tokRE
	tokNRE
	tokNPA
	tokOpenBrace
	tokCloseBrace
	tokOpenBracket
	tokCloseBracket
	tokComma
	tokDot
	tokPipeMatch
	tokPipeExact
	tokPipePattern
	tokOpenParen
	tokCloseParen
	tokBy
	tokWithout
	tokCountOverTime
	tokRate
	tokRateCounter
	tokSum
	tokSort
	tokSortDesc
	tokAvg
	tokMax
	tokMin
	tokCount
	tokStddev
	tokStdvar
	tokBottomK
	tokTopK
	tokBytesOverTime
	tokBytesRate
	tokBool
	tokJSON
	tokRegexp
	tokLogfmt
	tokPipe
	tokLineFmt
	tokLabelFmt
	tokUnwrap
	tokAvgOverTime
	tokSumOverTime
	tokMinOverTime
	tokMaxOverTime
	tokStdvarOverTime
	tokStddevOverTime
	tokQuantileOverTime
	tokBytesConv
	tokDurationConv
	tokDurationSecondsConv
	tokFirstOverTime
	tokLastOverTime
	tokAbsentOverTime
	tokVector
	tokLabelReplace
	tokUnpack
	tokOffset
	tokPattern
	tokIP
	tokOn
	tokIgnoring
	tokGroupLeft
	tokGroupRight
	tokDecolorize
	tokDrop
	tokKeep
	tokOr
	tokAnd
	tokUnless
	tokCmpEQ
	tokNEQ
	tokLT
	tokLTE
	tokGT
	tokGTE
	tokAdd
	tokSub
	tokMul
	tokDiv
	tokMod
	tokPow

	numTokenKinds
)

// tokenNames are the names Loki's parser prints in "unexpected X" messages:
// literal spelling for plain tokens, grammar names for the rest.
var tokenNames = [numTokenKinds]string{
	tokEOF: "$end", tokError: "ERROR", tokIllegal: "IDENTIFIER",
	tokBytes: "BYTES", tokIdentifier: "IDENTIFIER", tokString: "STRING", tokNumber: "NUMBER",
	tokParserFlag: "PARSER_FLAG", tokDuration: "DURATION", tokRange: "RANGE",
	tokEQ: "=", tokRE: "=~", tokNRE: "!~", tokNPA: "!>", tokOpenBrace: "{", tokCloseBrace: "}",
	tokOpenBracket: "[", tokCloseBracket: "]", tokComma: ",", tokDot: ".",
	tokPipeMatch: "|~", tokPipeExact: "|=", tokPipePattern: "|>",
	tokOpenParen: "(", tokCloseParen: ")", tokBy: "by", tokWithout: "without",
	tokCountOverTime: "COUNT_OVER_TIME", tokRate: "RATE", tokRateCounter: "RATE_COUNTER",
	tokSum: "SUM", tokSort: "SORT", tokSortDesc: "SORT_DESC", tokAvg: "AVG", tokMax: "MAX",
	tokMin: "MIN", tokCount: "COUNT", tokStddev: "STDDEV", tokStdvar: "STDVAR",
	tokBottomK: "BOTTOMK", tokTopK: "TOPK", tokBytesOverTime: "BYTES_OVER_TIME",
	tokBytesRate: "BYTES_RATE", tokBool: "bool", tokJSON: "json", tokRegexp: "regexp",
	tokLogfmt: "logfmt", tokPipe: "|", tokLineFmt: "line_format", tokLabelFmt: "label_format",
	tokUnwrap: "unwrap", tokAvgOverTime: "AVG_OVER_TIME", tokSumOverTime: "SUM_OVER_TIME",
	tokMinOverTime: "MIN_OVER_TIME", tokMaxOverTime: "MAX_OVER_TIME",
	tokStdvarOverTime: "STDVAR_OVER_TIME", tokStddevOverTime: "STDDEV_OVER_TIME",
	tokQuantileOverTime: "QUANTILE_OVER_TIME", tokBytesConv: "BYTES_CONV",
	tokDurationConv: "DURATION_CONV", tokDurationSecondsConv: "DURATION_SECONDS_CONV",
	tokFirstOverTime: "FIRST_OVER_TIME", tokLastOverTime: "LAST_OVER_TIME",
	tokAbsentOverTime: "ABSENT_OVER_TIME", tokVector: "VECTOR", tokLabelReplace: "label_replace",
	tokUnpack: "unpack", tokOffset: "offset", tokPattern: "pattern", tokIP: "ip", tokOn: "on",
	tokIgnoring: "ignoring", tokGroupLeft: "group_left", tokGroupRight: "group_right",
	tokDecolorize: "decolorize", tokDrop: "drop", tokKeep: "keep", tokOr: "or", tokAnd: "and",
	tokUnless: "unless", tokCmpEQ: "==", tokNEQ: "!=", tokLT: "<", tokLTE: "<=", tokGT: ">",
	tokGTE: ">=", tokAdd: "+", tokSub: "-", tokMul: "*", tokDiv: "/", tokMod: "%", tokPow: "^",
}

func (k tokenKind) String() string {
	if k < numTokenKinds {
		return tokenNames[k]
	}
	return "UNKNOWN"
}

// keywords are reserved words: always tokens, never identifiers (as in Loki).
var keywords = map[string]tokenKind{
	"by": tokBy, "without": tokWithout, "bool": tokBool, "json": tokJSON, "regexp": tokRegexp,
	"logfmt": tokLogfmt, "unpack": tokUnpack, "pattern": tokPattern, "line_format": tokLineFmt,
	"label_format": tokLabelFmt, "unwrap": tokUnwrap, "offset": tokOffset, "on": tokOn,
	"ignoring": tokIgnoring, "group_left": tokGroupLeft, "group_right": tokGroupRight,
	"decolorize": tokDecolorize, "drop": tokDrop, "keep": tokKeep,
	"or": tokOr, "and": tokAnd, "unless": tokUnless,
}

// functionWords are tokens only when a call follows ("(" or "by (" or
// "without ("); otherwise they lex as identifiers, so `| rate > 5` works.
var functionWords = map[string]tokenKind{
	"count_over_time": tokCountOverTime, "rate": tokRate, "rate_counter": tokRateCounter,
	"bytes_over_time": tokBytesOverTime, "bytes_rate": tokBytesRate,
	"avg_over_time": tokAvgOverTime, "sum_over_time": tokSumOverTime,
	"min_over_time": tokMinOverTime, "max_over_time": tokMaxOverTime,
	"stdvar_over_time": tokStdvarOverTime, "stddev_over_time": tokStddevOverTime,
	"quantile_over_time": tokQuantileOverTime, "first_over_time": tokFirstOverTime,
	"last_over_time": tokLastOverTime, "absent_over_time": tokAbsentOverTime,
	"vector": tokVector, "sum": tokSum, "avg": tokAvg, "max": tokMax, "min": tokMin,
	"count": tokCount, "stddev": tokStddev, "stdvar": tokStdvar, "bottomk": tokBottomK,
	"topk": tokTopK, "sort": tokSort, "sort_desc": tokSortDesc, "label_replace": tokLabelReplace,
	"bytes": tokBytesConv, "duration": tokDurationConv, "duration_seconds": tokDurationSecondsConv,
	"ip": tokIP,
}

// token is one lexeme. pos is the byte offset of its first character.
// str holds the decoded value of STRING tokens, the text of IDENTIFIER and
// NUMBER tokens, or the message of an error token.
type token struct {
	kind  tokenKind
	pos   int
	str   string
	dur   time.Duration
	bytes uint64
}

// lexer turns a query into tokens. It stops at the first lexical error,
// which it emits as a tokError token so the parser reports errors in
// input order, as a pull lexer would.
type lexer struct {
	q    string
	pos  int
	toks []token
}

func lex(q string, toks []token) []token {
	l := lexer{q: q, toks: toks[:0]}
	for {
		t := l.next()
		l.toks = append(l.toks, t)
		if t.kind == tokEOF || t.kind == tokError {
			return l.toks
		}
	}
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'
}
func isDigit(c byte) bool { return c >= '0' && c <= '9' }
func isIdentStart(c byte) bool {
	return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}
func isIdentChar(c byte) bool { return isIdentStart(c) || isDigit(c) }

func (l *lexer) skipSpaceAndComments() {
	for l.pos < len(l.q) {
		c := l.q[l.pos]
		switch {
		case isSpace(c):
			l.pos++
		case c == '#':
			for l.pos < len(l.q) && l.q[l.pos] != '\n' {
				l.pos++
			}
		default:
			return
		}
	}
}

func (l *lexer) errorf(pos int, msg string) token {
	return token{kind: tokError, pos: pos, str: msg}
}

func (l *lexer) next() token {
	l.skipSpaceAndComments()
	start := l.pos
	if l.pos >= len(l.q) {
		return token{kind: tokEOF, pos: start}
	}
	c := l.q[l.pos]
	switch {
	case isDigit(c) || (c == '.' && l.pos+1 < len(l.q) && isDigit(l.q[l.pos+1])):
		return l.number(start)
	case isIdentStart(c):
		return l.word(start)
	case c == '"' || c == '`':
		return l.stringLit(start)
	case c == '[':
		return l.rangeLit(start)
	}
	two := ""
	if l.pos+1 < len(l.q) {
		two = l.q[l.pos : l.pos+2]
	}
	kind := tokIllegal
	width := 1
	switch two {
	case "=~":
		kind, width = tokRE, 2
	case "==":
		kind, width = tokCmpEQ, 2
	case "!=":
		kind, width = tokNEQ, 2
	case "!~":
		kind, width = tokNRE, 2
	case "!>":
		kind, width = tokNPA, 2
	case "|=":
		kind, width = tokPipeExact, 2
	case "|~":
		kind, width = tokPipeMatch, 2
	case "|>":
		kind, width = tokPipePattern, 2
	case ">=":
		kind, width = tokGTE, 2
	case "<=":
		kind, width = tokLTE, 2
	}
	if width == 1 {
		switch c {
		case '-':
			if t, ok := l.flagOrNegativeDuration(start); ok {
				return t
			}
			kind = tokSub
		case '=':
			kind = tokEQ
		case '|':
			kind = tokPipe
		case '>':
			kind = tokGT
		case '<':
			kind = tokLT
		case '{':
			kind = tokOpenBrace
		case '}':
			kind = tokCloseBrace
		case ']':
			kind = tokCloseBracket
		case '(':
			kind = tokOpenParen
		case ')':
			kind = tokCloseParen
		case ',':
			kind = tokComma
		case '.':
			kind = tokDot
		case '+':
			kind = tokAdd
		case '*':
			kind = tokMul
		case '/':
			kind = tokDiv
		case '%':
			kind = tokMod
		case '^':
			kind = tokPow
		default:
			if c >= utf8.RuneSelf {
				_, width = utf8.DecodeRuneInString(l.q[l.pos:])
			}
		}
	}
	l.pos += width
	return token{kind: kind, pos: start, str: l.q[start:l.pos]}
}

// flagOrNegativeDuration handles a '-' that starts a parser flag
// (--strict, --keep-empty) or a negative duration (-5m).
func (l *lexer) flagOrNegativeDuration(start int) (token, bool) {
	if strings.HasPrefix(l.q[start:], "--") {
		end := start + 2
		for end < len(l.q) && (isIdentStart(l.q[end]) || l.q[end] == '-') {
			end++
		}
		switch flag := l.q[start:end]; flag {
		case "--strict", "--keep-empty":
			l.pos = end
			return token{kind: tokParserFlag, pos: start, str: flag}, true
		}
		return token{}, false
	}
	end := scanUnitRun(l.q, start+1, isDurationByte)
	if strings.TrimLeft(l.q[start+1:end], "0123456789.") == "" {
		// No unit: "-1" is minus one. (Loki lexes "-0" as a zero
		// duration because Go accepts a bare "0"; that makes -0
		// unprintable, so a unit is required here.)
		return token{}, false
	}
	d, err := ParseDuration(l.q[start:end])
	if err != nil {
		return token{}, false
	}
	l.pos = end
	return token{kind: tokDuration, pos: start, str: l.q[start:end], dur: d}, true
}

func isDurationByte(q string, i int) (int, bool) {
	c := q[i]
	switch {
	case isDigit(c), c == '.', c == 'n', c == 'u', c == 'm', c == 's', c == 'h', c == 'd', c == 'w', c == 'y':
		return 1, true
	case strings.HasPrefix(q[i:], "µ"):
		return len("µ"), true
	}
	return 0, false
}

func isBytesByte(q string, i int) (int, bool) {
	c := q[i]
	switch {
	case isDigit(c), c == '.', c == 'B', c == 'i', c == 'k', c == 'K', c == 'M', c == 'G', c == 'T', c == 'P':
		return 1, true
	}
	return 0, false
}

// scanUnitRun returns the end of the run of unit characters starting at i,
// mirroring Loki's greedy suffix scan after a number.
func scanUnitRun(q string, i int, accept func(string, int) (int, bool)) int {
	for i < len(q) {
		w, ok := accept(q, i)
		if !ok {
			break
		}
		i += w
	}
	return i
}

func (l *lexer) number(start int) token {
	q := l.q
	i := start
	if q[i] == '0' && i+1 < len(q) && (q[i+1] == 'x' || q[i+1] == 'X') && i+2 < len(q) && isHex(q[i+2]) {
		i += 2
		for i < len(q) && isHex(q[i]) {
			i++
		}
	} else {
		for i < len(q) && isDigit(q[i]) {
			i++
		}
		if i < len(q) && q[i] == '.' {
			i++
			for i < len(q) && isDigit(q[i]) {
				i++
			}
		}
		if i < len(q) && (q[i] == 'e' || q[i] == 'E') {
			j := i + 1
			if j < len(q) && (q[j] == '+' || q[j] == '-') {
				j++
			}
			if j < len(q) && isDigit(q[j]) {
				for j < len(q) && isDigit(q[j]) {
					j++
				}
				i = j
			}
		}
	}
	num := q[start:i]
	// A unit suffix turns the number into a duration or a byte size.
	if end := scanUnitRun(q, i, isDurationByte); end > i {
		if d, err := ParseDuration(q[start:end]); err == nil {
			l.pos = end
			return token{kind: tokDuration, pos: start, str: q[start:end], dur: d}
		}
	}
	if end := scanUnitRun(q, i, isBytesByte); end > i {
		if b, err := ParseBytes(q[start:end]); err == nil {
			l.pos = end
			return token{kind: tokBytes, pos: start, str: q[start:end], bytes: b}
		}
	}
	l.pos = i
	return token{kind: tokNumber, pos: start, str: num}
}

func isHex(c byte) bool { return isDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') }

func (l *lexer) word(start int) token {
	i := start
	for i < len(l.q) && isIdentChar(l.q[i]) {
		i++
	}
	l.pos = i
	text := l.q[start:i]
	lower := text
	for j := 0; j < len(text); j++ {
		if c := text[j]; c >= 'A' && c <= 'Z' {
			lower = strings.ToLower(text)
			break
		}
	}
	if k, ok := functionWords[lower]; ok {
		if l.callFollows(i) {
			return token{kind: k, pos: start, str: text}
		}
		return token{kind: tokIdentifier, pos: start, str: text}
	}
	if k, ok := keywords[lower]; ok {
		return token{kind: k, pos: start, str: text}
	}
	return token{kind: tokIdentifier, pos: start, str: text}
}

// callFollows reports whether the text at i (after optional spaces) is "("
// or a "by"/"without" grouping followed by "(", as Loki's isFunction does.
func (l *lexer) callFollows(i int) bool {
	q := l.q
	skip := func(i int) int {
		for i < len(q) && isSpace(q[i]) {
			i++
		}
		return i
	}
	i = skip(i)
	if i < len(q) && q[i] == '(' {
		return true
	}
	for _, kw := range [...]string{"by", "without"} {
		if len(q)-i >= len(kw) && strings.EqualFold(q[i:i+len(kw)], kw) {
			j := skip(i + len(kw))
			return j < len(q) && q[j] == '('
		}
	}
	return false
}

func (l *lexer) stringLit(start int) token {
	q := l.q
	quote := q[start]
	i := start + 1
	for {
		if i >= len(q) || (quote == '"' && q[i] == '\n') {
			l.pos = len(q)
			return l.errorf(start, "literal not terminated")
		}
		c := q[i]
		if c == quote {
			i++
			break
		}
		if c == '\\' && quote == '"' {
			i += 2
			continue
		}
		i++
	}
	l.pos = i
	raw := q[start:i]
	if !utf8.ValidString(raw) {
		return l.errorf(start, "invalid UTF-8 encoding")
	}
	if quote == '`' {
		return token{kind: tokString, pos: start, str: raw[1 : len(raw)-1]}
	}
	s, err := strconv.Unquote(raw)
	if err != nil {
		return l.errorf(start, "invalid char escape")
	}
	return token{kind: tokString, pos: start, str: s}
}

// rangeLit lexes "[5m]" as one RANGE token; ranges use Prometheus duration
// syntax only, as in Loki.
func (l *lexer) rangeLit(start int) token {
	end := strings.IndexByte(l.q[start+1:], ']')
	if end < 0 {
		l.pos = len(l.q)
		return l.errorf(start, "missing closing ']' in duration")
	}
	body := l.q[start+1 : start+1+end]
	l.pos = start + 1 + end + 1
	d, err := model.ParseDuration(body)
	if err != nil {
		return l.errorf(start, err.Error())
	}
	return token{kind: tokRange, pos: start, str: body, dur: time.Duration(d)}
}
