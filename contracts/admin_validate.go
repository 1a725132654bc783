package contracts

import (
	"fmt"
	"slices"
	"strings"
)

// This file validates the bodies of a case's administration: evaluations
// (POST /v1/cases/{case_id}/evaluation), follow-up replies (POST
// /v1/cases/{case_id}/evaluation/reply) and 一件事 bundles (POST
// /v1/bundles). As for a CaseSubmission, only what can be checked without
// the gateway's store is checked here: whether the case may be evaluated
// or answered, and where each part goes, is the gateway's decision.

// MaxPartNameLen bounds the name of a bundle's part (BundlePart.Part).
const MaxPartNameLen = 32

// Validate checks an evaluation on its own: the exchange id, the case id,
// the level and channel, the text (free text, at most MaxEvaluationText
// characters), the time, and the applicant's id (a citizen ID for holder
// type 111, a unified social credit code for 001, each with its check
// character). The error is a *FieldError naming the first bad field; it
// never repeats the applicant's id.
func (e *EvaluationSubmission) Validate() error {
	if err := ValidateUUID(e.ExchangeID); err != nil {
		return atField(err, "exchange_id")
	}
	if err := required("case_id", e.CaseID, MaxCodeLen); err != nil {
		return err
	}
	if !e.Level.Valid() {
		return invalid("level", "must be very_satisfied, satisfied, basically_satisfied, dissatisfied or very_dissatisfied")
	}
	if !e.Channel.Valid() {
		return invalid("channel", "must be window, pc, app, mini_program, hotline or sms")
	}
	if err := freeText("text", e.Text, MaxEvaluationText); err != nil {
		return err
	}
	if err := checkTime("evaluated_at", e.EvaluatedAt, true); err != nil {
		return err
	}
	return validateHolder("applicant", e.Applicant.HolderType, e.Applicant.IDNumber)
}

// validateHolder checks a holder's id type and its id number as a Party's
// are checked, naming field.holder_type or field.id_number.
func validateHolder(field, holderType, id string) error {
	if err := ValidateHolderType(holderType); err != nil {
		return atField(err, field+".holder_type")
	}
	if err := ValidateHolderID(holderType, id); err != nil {
		return atField(err, field+".id_number")
	}
	return nil
}

// Validate checks a follow-up reply on its own: the exchange id, the case
// id, the time, the measures (required free text) and the result
// (optional free text), each text at most MaxEvaluationText characters.
// Whether the case has a follow-up to answer is the gateway's decision.
// The error is a *FieldError naming the first bad field.
func (r *EvaluationReply) Validate() error {
	if err := ValidateUUID(r.ExchangeID); err != nil {
		return atField(err, "exchange_id")
	}
	if err := required("case_id", r.CaseID, MaxCodeLen); err != nil {
		return err
	}
	if err := checkTime("replied_at", r.RepliedAt, true); err != nil {
		return err
	}
	if err := requiredText("measures", r.Measures, MaxEvaluationText); err != nil {
		return err
	}
	return freeText("result", r.Result, MaxEvaluationText)
}

// Validate is ValidateWith under the default options.
func (b *BundleSubmission) Validate() error { return b.ValidateWith(ValidationOptions{}) }

// ValidateWith checks a bundle on its own, under a deployment's options:
// the exchange id, the accepting region and the bundle's name; 2 to
// MaxBundleParts parts with unique names of 1 to MaxPartNameLen of a-z,
// 0-9, _ and -; each part's after naming other parts of the bundle, each
// once, without a cycle; and every part valid as the CaseSubmission its
// owner receives (PartSubmission), its to_region possibly empty for the
// catalogue to route. An error of a part's own field (to_region,
// service_item, form, materials, license_ids) is named parts[i].<field>;
// one of the common fields (applicant, window, result_delivery, …) keeps
// its name, as every part shares it. The error is a *FieldError naming
// the first bad field.
func (b *BundleSubmission) ValidateWith(o ValidationOptions) error {
	if err := ValidateUUID(b.ExchangeID); err != nil {
		return atField(err, "exchange_id")
	}
	if err := ValidateRegion(b.FromRegion); err != nil {
		return atField(err, "from_region")
	}
	if err := required("name", b.Name, MaxNameLen); err != nil {
		return err
	}
	switch n := len(b.Parts); {
	case n < 2:
		return invalid("parts", "must hold at least 2 parts (a single item is a case: POST /v1/cases)")
	case n > MaxBundleParts:
		return invalid("parts", fmt.Sprintf("at most %d parts", MaxBundleParts))
	}
	index := make(map[string]int, len(b.Parts))
	for i := range b.Parts {
		name, f := b.Parts[i].Part, fmt.Sprintf("parts[%d].part", i)
		if !validPartName(name) {
			return invalid(f, fmt.Sprintf("must be 1 to %d of a-z, 0-9, _ and -", MaxPartNameLen))
		}
		if j, dup := index[name]; dup {
			return invalid(f, fmt.Sprintf("names the same part as parts[%d].part: part names are unique", j))
		}
		index[name] = i
	}
	for i := range b.Parts {
		after := b.Parts[i].After
		if len(after) > len(b.Parts)-1 {
			return invalid(fmt.Sprintf("parts[%d].after", i), "names more parts than the bundle has besides this one")
		}
		for k, a := range after {
			f := fmt.Sprintf("parts[%d].after[%d]", i, k)
			j, ok := index[a]
			switch {
			case !ok:
				return invalid(f, "names no part of the bundle")
			case j == i:
				return invalid(f, "names the part itself: a part cannot wait for itself")
			case slices.Contains(after[:k], a):
				return invalid(f, "names a part already named")
			}
		}
	}
	if err := b.checkAfterCycles(index); err != nil {
		return err
	}
	for i := range b.Parts {
		sub := b.PartSubmission(i)
		if err := sub.ValidateWith(o); err != nil {
			return atPart(err, i)
		}
	}
	return nil
}

// validPartName reports whether s is 1 to MaxPartNameLen of a-z, 0-9, _
// and -.
func validPartName(s string) bool {
	if len(s) < 1 || len(s) > MaxPartNameLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// partFields are the top-level fields of a part's CaseSubmission that
// come from the part (BundlePart) rather than from the bundle's common
// fields.
var partFields = []string{"to_region", "service_item", "form", "materials", "license_ids"}

// atPart names an error of part i's CaseSubmission in the bundle's terms:
// parts[i].<field> for a field of the part, the field as it is for a
// common one.
func atPart(err error, i int) error {
	fe, ok := err.(*FieldError)
	if !ok {
		return err
	}
	top := fe.Field
	if k := strings.IndexAny(top, ".["); k >= 0 {
		top = top[:k]
	}
	if slices.Contains(partFields, top) {
		return fe.At(fmt.Sprintf("parts[%d].%s", i, fe.Field))
	}
	return fe
}

// checkAfterCycles refuses parts that wait for each other in a cycle: no
// part of one could ever be delivered. The error names the after of the
// first part of the first cycle found, and the message the parts of the
// cycle in order (part names are checked before, so they are safe to
// show). index maps each part's name to its position; every name in an
// after is in it.
func (b *BundleSubmission) checkAfterCycles(index map[string]int) error {
	const (
		unseen = iota
		onPath
		done
	)
	state := make([]int, len(b.Parts))
	var path []int
	var visit func(i int) []int
	visit = func(i int) []int {
		state[i] = onPath
		path = append(path, i)
		for _, a := range b.Parts[i].After {
			switch j := index[a]; state[j] {
			case onPath:
				return append(slices.Clone(path[slices.Index(path, j):]), j)
			case unseen:
				if cycle := visit(j); cycle != nil {
					return cycle
				}
			}
		}
		path = path[:len(path)-1]
		state[i] = done
		return nil
	}
	for i := range b.Parts {
		if state[i] != unseen {
			continue
		}
		if cycle := visit(i); cycle != nil {
			names := make([]string, len(cycle))
			for k, j := range cycle {
				names[k] = b.Parts[j].Part
			}
			return invalid(fmt.Sprintf("parts[%d].after", cycle[0]),
				"parts wait for each other in a cycle, so none of them could be delivered: "+
					strings.Join(names, " → ")+" (each waits for the next)")
		}
	}
	return nil
}
