package render

import (
	"reflect"
	"testing"
)

func TestPack(t *testing.T) {
	costs := func(cs ...int) func(int) []int { return func(i int) []int { return []int{cs[i]} } }
	cases := []struct {
		name     string
		n, max   int
		limit    Limit
		cost     func(int) []int
		want     []Span
		comments string
	}{
		{"nothing", 0, 0, Limit{Max: 10}, costs(), nil, ""},
		{"all in one", 3, 0, Limit{Base: 1, Max: 10}, costs(3, 3, 3), []Span{{0, 3, false}}, "1+9 is the limit exactly"},
		{"by size", 4, 0, Limit{Base: 1, Max: 10}, costs(5, 5, 4, 6), []Span{{0, 1, false}, {1, 3, false}, {3, 4, false}}, ""},
		{"by count", 5, 2, Limit{Max: 100}, costs(1, 1, 1, 1, 1), []Span{{0, 2, false}, {2, 4, false}, {4, 5, false}}, ""},
		{"one too large alone", 3, 0, Limit{Base: 2, Max: 10}, costs(1, 20, 1), []Span{{0, 1, false}, {1, 2, true}, {2, 3, false}}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := Pack(c.n, c.max, []Limit{c.limit}, c.cost)
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("got %v, want %v %s", got, c.want, c.comments)
			}
		})
	}
	t.Run("every limit counts", func(t *testing.T) {
		got := Pack(3, 0, []Limit{{Max: 10}, {Max: 2}}, func(int) []int { return []int{1, 1} })
		if want := []Span{{0, 2, false}, {2, 3, false}}; !reflect.DeepEqual(got, want) {
			t.Errorf("got %v, want %v", got, want)
		}
	})
}
