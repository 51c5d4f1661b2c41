package ingester

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
)

func TestWithServiceName(t *testing.T) {
	tests := []struct {
		in, want string
		from     []string
	}{
		{`{app="cart", container="c"}`, `{app="cart", container="c", service_name="cart"}`, DefaultServiceNameLabels},
		// The list's order decides, not the label set's.
		{`{app="cart", service="svc"}`, `{app="cart", service="svc", service_name="svc"}`, DefaultServiceNameLabels},
		{`{container="nginx", namespace="web"}`, `{container="nginx", namespace="web", service_name="nginx"}`, DefaultServiceNameLabels},
		{`{namespace="web"}`, `{namespace="web", service_name="unknown_service"}`, DefaultServiceNameLabels},
		{`{app="cart", service_name="checkout"}`, `{app="cart", service_name="checkout"}`, DefaultServiceNameLabels},
		{`{app="cart"}`, `{app="cart"}`, nil},
		{`{team="a", app="cart"}`, `{app="cart", service_name="a", team="a"}`, []string{"team"}},
	}
	for _, tc := range tests {
		lbs, err := parseStreamLabels(tc.in)
		if err != nil {
			t.Fatal(err)
		}
		if got := withServiceName(lbs, tc.from).String(); got != tc.want {
			t.Errorf("withServiceName(%s, %v) = %s, want %s", tc.in, tc.from, got, tc.want)
		}
	}
}

func TestPushAddsServiceNameOnce(t *testing.T) {
	lim := DefaultLimits()
	lim.MaxLabelNamesPerSeries = 2
	ing := startIngester(t, testConfig(), &lim, newFakeStore(), t.TempDir())
	defer ing.Stop(context.Background())
	now := time.Now()
	// Two spellings of one label set land in one stream; service_name does
	// not count against max_label_names_per_series.
	if err := ing.Push(context.Background(), "fake", req(
		pstream(`{app="cart", namespace="shop"}`, entry(now, "1")),
		pstream(`{namespace="shop",app="cart"}`, entry(now.Add(time.Millisecond), "2")),
	)); err != nil {
		t.Fatal(err)
	}
	all := []*labels.Matcher{labels.MustNewMatcher(labels.MatchRegexp, "app", ".+")}
	series := ing.Series("fake", minInt64, maxInt64, all)
	if len(series) != 1 || series[0].String() != `{app="cart", namespace="shop", service_name="cart"}` {
		t.Fatalf("series = %v, want one with service_name=cart", series)
	}
	byService := []*labels.Matcher{labels.MustNewMatcher(labels.MatchEqual, "service_name", "cart")}
	if got := strings.Join(ing.LabelValues("fake", "namespace", minInt64, maxInt64, byService), ","); got != "shop" {
		t.Fatalf("namespace values for service_name=cart = %q", got)
	}
}
