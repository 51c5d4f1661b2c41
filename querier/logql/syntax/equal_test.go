package syntax

import (
	"reflect"

	"github.com/prometheus/prometheus/model/labels"
)

var matcherType = reflect.TypeOf((*labels.Matcher)(nil))

// equalNodes compares two trees structurally. Matchers are compared by
// type, name and value: their compiled regexps hold func values that
// reflect.DeepEqual cannot compare.
func equalNodes(a, b any) bool {
	return equalValues(reflect.ValueOf(a), reflect.ValueOf(b))
}

func equalValues(a, b reflect.Value) bool {
	if a.IsValid() != b.IsValid() {
		return false
	}
	if !a.IsValid() {
		return true
	}
	if a.Type() != b.Type() {
		return false
	}
	if a.Type() == matcherType {
		if a.IsNil() || b.IsNil() {
			return a.IsNil() == b.IsNil()
		}
		ma, mb := a.Interface().(*labels.Matcher), b.Interface().(*labels.Matcher)
		return ma.Type == mb.Type && ma.Name == mb.Name && ma.Value == mb.Value
	}
	switch a.Kind() {
	case reflect.Pointer, reflect.Interface:
		if a.IsNil() || b.IsNil() {
			return a.IsNil() == b.IsNil()
		}
		return equalValues(a.Elem(), b.Elem())
	case reflect.Slice:
		if a.Len() != b.Len() {
			return false
		}
		for i := 0; i < a.Len(); i++ {
			if !equalValues(a.Index(i), b.Index(i)) {
				return false
			}
		}
		return true
	case reflect.Struct:
		for i := 0; i < a.NumField(); i++ {
			if !equalValues(a.Field(i), b.Field(i)) {
				return false
			}
		}
		return true
	case reflect.Float32, reflect.Float64:
		return a.Float() == b.Float() || (a.Float() != a.Float() && b.Float() != b.Float())
	default:
		return a.Interface() == b.Interface()
	}
}
