package adapters

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
)

// DecodeConfig decodes an adapter's JSON config block into v strictly:
// unknown fields, trailing data and an empty block are errors. Adapters use
// it so that a typo in a partner's config fails at start-up, not at the
// first delivery.
func DecodeConfig(raw json.RawMessage, v any) error {
	if len(bytes.TrimSpace(raw)) == 0 {
		return errors.New("config: block is empty")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("config: trailing data after the JSON object")
	}
	return nil
}

// ParseEndpoint checks that s is an absolute http or https URL with a host
// and without query, fragment or user info, and returns it without a
// trailing slash, ready for appending paths. Its errors never repeat a
// password the URL carries.
func ParseEndpoint(s string) (string, error) {
	if s == "" {
		return "", errors.New("endpoint is required")
	}
	u, err := url.Parse(s)
	if err != nil {
		// A *url.Error quotes the whole URL, user info and all.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return "", fmt.Errorf("endpoint is not a URL: %w", err)
	}
	shown := u.Redacted()
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return "", fmt.Errorf("endpoint %q must be an absolute http or https URL", shown)
	case u.Host == "" || u.Opaque != "":
		return "", fmt.Errorf("endpoint %q has no host", shown)
	case u.User != nil:
		return "", fmt.Errorf("endpoint %q must not carry user info", shown)
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		return "", fmt.Errorf("endpoint %q must not have a query or fragment", shown)
	}
	return strings.TrimRight(s, "/"), nil
}
