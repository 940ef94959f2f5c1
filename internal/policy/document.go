package policy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// Document is an IAM policy document.
type Document struct {
	Version   string     `json:"Version,omitempty"`
	ID        string     `json:"Id,omitempty"`
	Statement Statements `json:"Statement"`
}

// Statement is one statement. Principal is kept raw (ParsePrincipal reads
// it): identity policies have none, resource policies must.
type Statement struct {
	Sid          string                     `json:"Sid,omitempty"`
	Effect       string                     `json:"Effect"`
	Principal    json.RawMessage            `json:"Principal,omitempty"`
	NotPrincipal json.RawMessage            `json:"NotPrincipal,omitempty"`
	Action       List                       `json:"Action,omitempty"`
	NotAction    List                       `json:"NotAction,omitempty"`
	Resource     List                       `json:"Resource,omitempty"`
	NotResource  List                       `json:"NotResource,omitempty"`
	Condition    map[string]map[string]List `json:"Condition,omitempty"`
}

// List is IAM's "a string or a list of strings".
type List []string

// UnmarshalJSON accepts "x" and ["x", "y"].
func (l *List) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*l = List{s}
		return nil
	}
	var ss []string
	if err := json.Unmarshal(b, &ss); err != nil {
		// Condition values may be booleans or numbers.
		var vs []any
		if err2 := json.Unmarshal(b, &vs); err2 != nil {
			var v any
			if err3 := json.Unmarshal(b, &v); err3 != nil {
				return err
			}
			vs = []any{v}
		}
		for _, v := range vs {
			ss = append(ss, fmt.Sprint(v))
		}
	}
	*l = ss
	return nil
}

// Statements is "a statement or a list of statements".
type Statements []Statement

// UnmarshalJSON accepts {...} and [{...}, ...].
func (s *Statements) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '{' {
		var one Statement
		if err := json.Unmarshal(b, &one); err != nil {
			return err
		}
		*s = Statements{one}
		return nil
	}
	var many []Statement
	if err := json.Unmarshal(b, &many); err != nil {
		return err
	}
	*s = many
	return nil
}

// SyntaxError is a policy that can't be parsed, at a line of its text.
type SyntaxError struct {
	Line int
	Msg  string
}

func (e *SyntaxError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("line %d: %s", e.Line, e.Msg)
	}
	return e.Msg
}

// Parse reads a policy document as IAM APIs return it: JSON, or JSON that is
// URL-encoded (GetAccountAuthorizationDetails and Get*Policy return the
// latter; some SDKs and emulators decode it first).
func Parse(text string) (*Document, error) {
	d, err := decode(text)
	if err != nil {
		return nil, err
	}
	if err := d.Validate(); err != nil {
		return nil, err
	}
	return d, nil
}

// decode reads JSON or URL-encoded JSON, refusing unknown fields.
func decode(text string) (*Document, error) {
	t := strings.TrimSpace(text)
	if t != "" && t[0] != '{' {
		dec, err := url.QueryUnescape(t)
		if err != nil {
			return nil, &SyntaxError{Msg: "neither JSON nor URL-encoded JSON: " + err.Error()}
		}
		t = strings.TrimSpace(dec)
	}
	var d Document
	dec := json.NewDecoder(strings.NewReader(t))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&d); err != nil {
		return nil, &SyntaxError{Line: errLine(t, err), Msg: err.Error()}
	}
	return &d, nil
}

func errLine(text string, err error) int {
	var off int64 = -1
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		off = se.Offset
	case errors.As(err, &te):
		off = te.Offset
	}
	if off < 0 {
		return 0
	}
	if off > int64(len(text)) {
		off = int64(len(text))
	}
	return strings.Count(text[:off], "\n") + 1
}

// Validate checks what IAM itself would refuse in an identity policy.
func (d *Document) Validate() error {
	if len(d.Statement) == 0 {
		return &SyntaxError{Msg: "policy has no Statement"}
	}
	for i, s := range d.Statement {
		where := fmt.Sprintf("Statement[%d]", i)
		if s.Sid != "" {
			where += " (" + s.Sid + ")"
		}
		switch {
		case s.Effect != "Allow" && s.Effect != "Deny":
			return &SyntaxError{Msg: fmt.Sprintf("%s: Effect must be Allow or Deny, not %q", where, s.Effect)}
		case (len(s.Action) == 0) == (len(s.NotAction) == 0):
			return &SyntaxError{Msg: where + ": needs exactly one of Action and NotAction"}
		case (len(s.Resource) == 0) == (len(s.NotResource) == 0):
			return &SyntaxError{Msg: where + ": needs exactly one of Resource and NotResource"}
		}
	}
	return nil
}

// JSON renders a statement compactly, for evidence.
func (s Statement) JSON() string {
	b, _ := json.Marshal(s)
	return string(b)
}
