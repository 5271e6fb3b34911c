package annotations

import (
	"bytes"
	"encoding/json"
	"strings"
)

// Multus decodes the JSON form into Go structs with encoding/json, so a key
// names a field when it equals the field's name ignoring case ("Name",
// "INTERFACE"), a later key overrides an earlier one for the same field,
// and null leaves a string field as it was. objectFields reads an object
// the same way, so that meta-cni accepts what Multus accepts.

// fieldSet is the fields of one JSON object Multus decodes: the name of
// each, and whether it is a string (null leaves a string field unchanged,
// where it clears a list, an object or a pointer).
type fieldSet map[string]bool

var (
	// selectionFields are those of Multus's NetworkSelectionElement.
	selectionFields = fieldSet{
		"name": true, "namespace": true, "mac": true, "interface": true,
		"interfaceRequest": true, "infiniband-guid": true, "deviceID": true,
		"ips": false, "portMappings": false, "bandwidth": false,
		"cni-args": false, "default-route": false,
	}
	portMappingFields = fieldSet{"hostPort": false, "containerPort": false, "protocol": true, "hostIP": true}
	bandwidthFields   = fieldSet{"ingressRate": false, "ingressBurst": false, "egressRate": false, "egressBurst": false}
)

// canonical is the field a key sets: the field of that exact name, else
// the one whose name equals it ignoring case, else the key itself (a field
// nobody reads).
func (s fieldSet) canonical(key string) string {
	if _, ok := s[key]; ok {
		return key
	}
	for name := range s {
		if strings.EqualFold(name, key) {
			return name
		}
	}
	return key
}

// objectFields returns the members of a JSON object keyed by the field
// each sets, or nil when raw is not an object.
func objectFields(raw json.RawMessage, fields fieldSet) map[string]json.RawMessage {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil
	}
	out := map[string]json.RawMessage{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil
		}
		key, _ := tok.(string)
		var value json.RawMessage
		if err := dec.Decode(&value); err != nil {
			return nil
		}
		name := fields.canonical(key)
		if isNull(value) && fields[name] {
			continue
		}
		out[name] = value
	}
	return out
}
