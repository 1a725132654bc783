package gateway

import (
	"time"

	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway/workdays"
)

// CaseAdmin is the administration of a case (Case.Admin): its statutory
// clock, its evaluation and follow-up, and what it is of a 一件事 bundle.
// The cases package writes it; stores keep it as JSON. It holds no
// personal data: an evaluation's applicant is kept masked and its text
// is not kept (the delivered notices carry it).
type CaseAdmin struct {
	// Clock is the statutory clock, once the owner accepted the case.
	Clock *workdays.Clock `json:"clock,omitempty"`
	// ClockStartedAt is when the clock first started; ClockStoppedAt
	// when it last stopped.
	ClockStartedAt time.Time `json:"clock_started_at,omitzero"`
	ClockStoppedAt time.Time `json:"clock_stopped_at,omitzero"`
	// WarnAt is when the deadline warning falls for the running clock;
	// WarnedAt and OverdueAt when its notices were raised.
	WarnAt    time.Time `json:"warn_at,omitzero"`
	WarnedAt  time.Time `json:"warned_at,omitzero"`
	OverdueAt time.Time `json:"overdue_at,omitzero"`
	// Evaluation is the applicant's evaluation (Text left out), once
	// evaluated; FollowUp its follow-up, for a negative one.
	Evaluation *contracts.Evaluation `json:"evaluation,omitempty"`
	FollowUp   *contracts.FollowUp   `json:"follow_up,omitempty"`
	// Bundle is set on a bundle's own case.
	Bundle *BundleAdmin `json:"bundle,omitempty"`
	// Part is set on a part of a bundle.
	Part *PartAdmin `json:"part,omitempty"`
}

// BundleAdmin is what a bundle's own case keeps of its bundle. Its parts
// and their aggregate state are not kept: they are read from the parts'
// cases (CaseStore.BundleParts), which hold them.
type BundleAdmin struct {
	Name string `json:"name"`
	// ConcludedAt is when the last part concluded and the bundle's
	// concluding update was queued.
	ConcludedAt time.Time `json:"concluded_at,omitzero"`
}

// PartAdmin is what a part's case keeps of its bundle.
type PartAdmin struct {
	Part  string `json:"part"`
	Name  string `json:"name"`
	Parts int    `json:"parts"`
	// After are the parts it waits for (by name).
	After []string `json:"after,omitempty"`
	// Held is the id of its held delivery while it waits.
	Held string `json:"held,omitempty"`
}
