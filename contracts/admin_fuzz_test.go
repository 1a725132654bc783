package contracts

import (
	"encoding/json"
	"errors"
	"os"
	"testing"
)

// FuzzBundleSubmission decodes arbitrary JSON as a 一件事 bundle and
// validates it, under the default options and with http material URLs
// allowed. It must never panic; every refusal is a *FieldError naming a
// field; what the default options accept, allowing http accepts too; and
// a bundle that validates has 2 to MaxBundleParts parts with unique,
// well-formed names whose after lists name other parts and can be
// ordered (no cycle), and every part is a valid CaseSubmission
// (PartSubmission) under the same options.
func FuzzBundleSubmission(f *testing.F) {
	golden, err := os.ReadFile("testdata/bundle_submission.json")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(golden)
	f.Add([]byte(`{"parts":[{"part":"a","after":["b"]},{"part":"b","after":["a"]}]}`))
	f.Add([]byte(`{"parts":[{"part":"a","after":["a","a","a"]}]}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		var b BundleSubmission
		if json.Unmarshal(raw, &b) != nil {
			return
		}
		strict := b.ValidateWith(ValidationOptions{})
		lenient := b.ValidateWith(ValidationOptions{AllowHTTPMaterialURLs: true})
		for _, err := range []error{strict, lenient} {
			var fe *FieldError
			if err != nil && (!errors.As(err, &fe) || fe.Field == "") {
				t.Fatalf("refusal %v is not a *FieldError naming a field", err)
			}
		}
		if strict == nil && lenient != nil {
			t.Fatalf("valid under the default options, refused with http allowed: %v", lenient)
		}
		if lenient != nil {
			return
		}
		if n := len(b.Parts); n < 2 || n > MaxBundleParts {
			t.Fatalf("valid bundle of %d parts", n)
		}
		index := map[string]int{}
		for i, p := range b.Parts {
			if !validPartName(p.Part) {
				t.Fatalf("valid bundle with part name %q", p.Part)
			}
			if _, dup := index[p.Part]; dup {
				t.Fatalf("valid bundle names two parts %q", p.Part)
			}
			index[p.Part] = i
		}
		// Kahn's algorithm: every part can be released after those it
		// waits for, exactly when after names other parts and has no cycle.
		waits := make([]int, len(b.Parts))
		for i, p := range b.Parts {
			for _, a := range p.After {
				if j, ok := index[a]; !ok || j == i {
					t.Fatalf("valid bundle: part %q waits for %q", p.Part, a)
				}
			}
			waits[i] = len(p.After)
		}
		released := 0
		for progress := true; progress; {
			progress = false
			for i, p := range b.Parts {
				if waits[i] != 0 {
					continue
				}
				waits[i], progress = -1, true
				released++
				for k, q := range b.Parts {
					for _, a := range q.After {
						if a == p.Part {
							waits[k]--
						}
					}
				}
			}
		}
		if released != len(b.Parts) {
			afters := map[string][]string{}
			for _, p := range b.Parts {
				afters[p.Part] = p.After
			}
			t.Fatalf("valid bundle whose parts wait in a cycle: %v", afters)
		}
		for i := range b.Parts {
			s := b.PartSubmission(i)
			if err := s.ValidateWith(ValidationOptions{AllowHTTPMaterialURLs: true}); err != nil {
				t.Fatalf("valid bundle, part %d refused as a case submission: %v", i, err)
			}
			if err := s.ValidateWith(ValidationOptions{}); strict == nil && err != nil {
				t.Fatalf("valid bundle under the default options, part %d refused under them: %v", i, err)
			}
		}
	})
}
