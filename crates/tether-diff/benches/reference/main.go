// Reference timing for docs/benchmarks.md: Argo CD's diff engine (gitops-engine pkg/diff, the
// newest tag the Go module proxy serves for go 1.26) comparing the same 10,000 desired/live pairs
// as `cargo bench -p tether-diff --bench diff` (written with TETHER_BENCH_DUMP=DIR).
//
//	go run . DIR
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/argoproj/gitops-engine/pkg/diff"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func load(path string) []*unstructured.Unstructured {
	data, err := os.ReadFile(path)
	if err != nil {
		panic(err)
	}
	var raw []map[string]interface{}
	if err := json.Unmarshal(data, &raw); err != nil {
		panic(err)
	}
	out := make([]*unstructured.Unstructured, len(raw))
	for i, o := range raw {
		out[i] = &unstructured.Unstructured{Object: o}
	}
	return out
}

func main() {
	dir := os.Args[1]
	desired := load(filepath.Join(dir, "desired.json"))
	live := load(filepath.Join(dir, "live.json"))
	var times []time.Duration
	modified := 0
	for run := 0; run < 10; run++ {
		start := time.Now()
		modified = 0
		for i := range desired {
			r, err := diff.Diff(desired[i], live[i], diff.WithNormalizer(diff.GetNoopNormalizer()))
			if err != nil {
				panic(err)
			}
			if r.Modified {
				modified++
			}
		}
		times = append(times, time.Since(start))
	}
	sort.Slice(times, func(a, b int) bool { return times[a] < times[b] })
	fmt.Printf("gitops-engine diff.Diff, %d pairs, %d modified: median %v (min %v, max %v) over %d runs\n",
		len(desired), modified, times[len(times)/2], times[0], times[len(times)-1], len(times))
}
